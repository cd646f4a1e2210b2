package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"hearth.dev/hearth/storage"
)

func dbCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: hearth db check|export|import|compress-state --data-dir DIR [FILE]")
	}
	fs := flag.NewFlagSet("hearth db "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlags(fs)
	var co compressStateOptions
	if args[0] == "compress-state" {
		fs.StringVar(&co.levels, "levels", "", "level sizes, lowest first, e.g. 100,50,25 (default: state_compression.levels)")
		fs.Func("room", "compress only this room (repeat for more)", func(s string) error { co.rooms = append(co.rooms, s); return nil })
		fs.BoolVar(&co.force, "force", false, "rewrite rooms even when the tree takes no fewer rows")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	opts := storage.Options{Path: cfg.DatabasePath(), StatePath: cfg.StatePath(), Logger: newLogger(stderr, cfg.LogLevel)}
	switch args[0] {
	case "check":
		return dbCheck(ctx, opts, stdout)
	case "compress-state":
		sizes, err := cfg.StateCompression.LevelSizes() // checked by load
		if err != nil {
			return err
		}
		return dbCompressState(ctx, opts, sizes, co, stdout, stderr)
	case "export":
		if fs.NArg() != 1 {
			return errors.New("usage: hearth db export --data-dir DIR FILE")
		}
		if err := storage.ExportFile(ctx, opts, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "exported %s to %s\n", opts.Path, fs.Arg(0))
		return nil
	case "import":
		if fs.NArg() != 1 {
			return errors.New("usage: hearth db import --data-dir DIR FILE")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		if cfg.StatePath() != "" {
			return errors.New("import: database.state_file is set; import into a single-file data folder")
		}
		if err := storage.ImportFile(ctx, fs.Arg(0), opts); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %s into %s\n", fs.Arg(0), opts.Path)
		return nil
	}
	return fmt.Errorf("unknown db command %q", args[0])
}

func dbCheck(ctx context.Context, o storage.Options, w io.Writer) error {
	if _, err := os.Stat(o.Path); err != nil {
		return fmt.Errorf("no database: %w", err)
	}
	r, err := storage.Inspect(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "database:        %s\n", r.Path)
	fmt.Fprintf(w, "server name:     %s\n", r.ServerName)
	fmt.Fprintf(w, "schema version:  %d (this hearth: %d)\n", r.SchemaVersion, r.CodeVersion)
	fmt.Fprintf(w, "compat version:  %d\n", r.CompatVersion)
	fmt.Fprintf(w, "size:            %d bytes\n", r.PageCount*r.PageSize)
	fmt.Fprintf(w, "applied deltas:  %d\n", len(r.AppliedDeltas))
	for _, d := range r.AppliedDeltas {
		fmt.Fprintf(w, "  %s\n", d)
	}
	fmt.Fprintf(w, "pending background updates: %d\n", len(r.PendingUpdates))
	for _, u := range r.PendingUpdates {
		fmt.Fprintf(w, "  %s progress=%s", u.Name, u.Progress)
		if u.DependsOn != "" {
			fmt.Fprintf(w, " after=%s", u.DependsOn)
		}
		fmt.Fprintln(w)
	}
	if r.CompatVersion > r.CodeVersion {
		return fmt.Errorf("%s: %w: its compat version is %d but this hearth's schema version is %d",
			r.Path, storage.ErrTooNew, r.CompatVersion, r.CodeVersion)
	}
	return nil
}
