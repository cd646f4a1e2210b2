package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"hearth.dev/hearth"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/storage"
)

// stdin is where --password-stdin reads (tests replace it).
var stdin io.Reader = os.Stdin

const userUsage = "usage: hearth user create --data-dir DIR --name NAME --password-stdin [--admin]"

// userCommand runs `hearth user ...`.
func userCommand(ctx context.Context, args []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New(userUsage)
	}
	fs := flag.NewFlagSet("hearth user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the new user's name (localpart) or full user ID")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input (its first line)")
	admin := fs.Bool("admin", false, "make the user a server admin")
	load := configFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 || *name == "" || !*passwordStdin {
		return errors.New(userUsage)
	}
	password, err := readPassword(in)
	if err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	db, err := storage.Open(ctx, storage.Options{Path: cfg.DatabasePath(), StatePath: cfg.StatePath(), Logger: newLogger(stderr, cfg.LogLevel)})
	if err != nil {
		return err
	}
	defer db.Close()
	// As at a start: no configured name takes the database's own (or the
	// default for a new database); a different configured name is refused.
	server, err := db.ClaimServerName(ctx, cfg.ServerName)
	if errors.Is(err, storage.ErrNoServerName) {
		server, err = db.ClaimServerName(ctx, hearth.DefaultServerName)
	}
	if err != nil {
		return err
	}
	userID, err := newLocalUserID(*name, server)
	if err != nil {
		return err
	}
	accounts := storage.NewAccountStore(db, storage.AccountOptions{})
	if _, err := accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: password, Admin: *admin}); err != nil {
		if errors.Is(err, core.ErrUserInUse) {
			return fmt.Errorf("%s already exists", userID)
		}
		return err
	}
	kind := "user"
	if *admin {
		kind = "admin"
	}
	fmt.Fprintf(stdout, "created %s %s\n", kind, userID)
	return nil
}

// newLocalUserID checks a name given on the command line: a localpart, or
// a full user ID of this server, in the current user ID grammar.
func newLocalUserID(name, server string) (string, error) {
	local := name
	if strings.HasPrefix(name, "@") {
		uid, err := id.ParseUserID(name)
		if err != nil {
			return "", fmt.Errorf("--name: %w", err)
		}
		if string(uid.ServerName()) != server {
			return "", fmt.Errorf("--name: %s is not a user of %s", name, server)
		}
		local = uid.Localpart()
	}
	uid, err := id.NewUserID(local, id.ServerName(server))
	if err != nil {
		return "", fmt.Errorf("--name: %w (names are lower-case a-z, 0-9 and . _ = - / +)", err)
	}
	return string(uid), nil
}

// readPassword reads the first line of r (without its line ending).
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", errors.New("the password read from standard input is empty")
	}
	return line, nil
}
