package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"hearth.dev/hearth/storage"
)

// exportDatabase returns a consistent copy of the running homeserver's
// database as one SQLite file (hearth.Homeserver.Export: the snapshot of
// one read transaction, WAL content included). The copy has no WAL of its
// own and opens with `hearth serve` after `hearth db import`.
func (h *host) exportDatabase(ctx context.Context) ([]byte, error) {
	hs, _, err := h.running()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := hs.Export(ctx, &buf); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return buf.Bytes(), nil
}

// importDatabase replaces the database in the storage named by want (as
// for start) with data, a database exported by a tab or by `hearth db
// export`. The homeserver must be stopped. data is written to a file
// beside the database and checked first (a SQLite file with hearth's
// schema whose compat version this build can run), so a bad file leaves
// the current database as it was.
func (h *host) importDatabase(ctx context.Context, data []byte, want string) error {
	h.starting.Lock()
	defer h.starting.Unlock()
	if _, _, err := h.running(); err == nil {
		return newCodeError(codeRunning, "stop the homeserver before importing a database")
	}
	be, err := chooseBackend(want)
	if err != nil {
		return err
	}
	if be == backendMemory {
		return newCodeError(codeBadOption, "a database cannot be imported into memory storage, which lives only as long as its worker")
	}
	if len(data) < 100 || string(data[:16]) != "SQLite format 3\x00" {
		return newCodeError(codeForeign, "the file is not a SQLite database")
	}
	tmp := h.dbPath() + "-import"
	if err := be.removeDatabase(tmp); err != nil {
		return err
	}
	defer be.removeDatabase(tmp)
	if err := be.writeFile(tmp, data); err != nil {
		return err
	}
	rep, err := storage.Inspect(ctx, storage.Options{Path: tmp, VFS: be.VFS})
	switch {
	case errors.Is(err, storage.ErrForeign):
		return newCodeError(codeForeign, "%v", err)
	case errors.Is(err, sqlite3.BUSY):
		return newCodeError(codeBusy, "the database is in use by another tab or worker of this site (%v)", err)
	case err != nil:
		return fmt.Errorf("import: %w", err)
	case rep.SchemaVersion == 0:
		return newCodeError(codeForeign, "the file is not a hearth database")
	case rep.CompatVersion > rep.CodeVersion:
		return newCodeError(codeTooNew, "the database needs a newer hearth: its compat version is %d but this hearth's schema version is %d",
			rep.CompatVersion, rep.CodeVersion)
	}
	if err := be.removeDatabase(h.dbPath()); err != nil {
		return err
	}
	if err := be.writeFile(h.dbPath(), data); err != nil {
		return err
	}
	h.log.Info("database imported", "storage", be.Name, "server_name", rep.ServerName, "bytes", len(data))
	return nil
}
