package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/serdes"
)

// A schema image is a new database exactly as the migrator makes it: the
// common tables, the newest full schemas and every delta since, and the
// rows they seed (schema_version, applied_schema_deltas,
// stream_positions...), nothing else: no server name, key or account.
// Where SQLite runs on the browser's baseline code (the tab's first
// visit), making a database statement by statement takes seconds (every
// CREATE parsed and run, every ALTER re-parsing the whole schema); copying
// an image in takes one schema read. The build makes the image
// (cmd/hearth-schemaimage) and ships it beside the wasm.

// SchemaImage returns a schema image of hearth's schema tree. The bytes
// depend only on the tree: two calls return the same image.
func SchemaImage(ctx context.Context) ([]byte, error) {
	return schemaImage(ctx, Schema())
}

// schemaImage makes a schema image of tree, through the migrator, in a
// file of its own on the operating system's files, opened as in the
// browser: on one connection (a named VFS), WAL in exclusive locking mode.
func schemaImage(ctx context.Context, tree *SchemaTree) ([]byte, error) {
	dir, err := os.MkdirTemp("", "hearth-schema-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := openWith(ctx, Options{Path: filepath.Join(dir, "hearth.db"), VFS: "os", Logger: quiet}, tree)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Reader().Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var image []byte
	err = conn.Raw(func(dc any) (err error) {
		image, err = serdes.Serialize(dc.(driver.Conn).Raw(), "main")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: schema image: %w", err)
	}
	return image, nil
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// errNotImage is returned by restoreImage for bytes that are not a SQLite
// database; nothing was written.
var errNotImage = errors.New("the schema image is not a SQLite database")

// errImageNotCopied is returned by restoreImage when SQLite refused to
// copy the image; the copy is one transaction, so nothing was written.
var errImageNotCopied = errors.New("copying the schema image")

// restoreImage copies image, a schema image, into the database of conn,
// which has no schema yet, with SQLite's backup (one transaction: a crash
// leaves the file as empty as it was), and returns the schema state the
// image is at, which the migrator brings forward like any database's.
func restoreImage(ctx context.Context, conn *sql.Conn, path string, image []byte) (*schemaState, error) {
	if len(image) < 100 || !bytes.HasPrefix(image, sqliteHeader) {
		return nil, errNotImage
	}
	err := conn.Raw(func(dc any) error {
		return serdes.Deserialize(dc.(driver.Conn).Raw(), "main", image)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, errImageNotCopied, describeOpenError(err))
	}
	hasSchema, err := probeFile(ctx, conn, path)
	if err == nil && !hasSchema {
		err = fmt.Errorf("%s: %w: the schema image is an empty database", path, ErrForeign)
	}
	if err != nil {
		return nil, err
	}
	return readSchemaState(ctx, conn, path)
}
