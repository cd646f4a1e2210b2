// Package hearthtest builds, for tests, the same service graph hearth.Open
// builds (package services), on a real SQLite database that the test
// removes when it ends, and makes users and tokens in it. The tests of web
// use it to build their server exactly as production does.
//
// Importing the package registers the "sqlite3" database/sql driver (through
// storage).
package hearthtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientapi"
	"hearth.dev/hearth/services"
	"hearth.dev/hearth/storage"
)

// ServerName is the name of every test homeserver unless a test picks
// another.
const ServerName = "example.org"

// Password is the password of the users CreateUser makes.
const Password = "correct horse battery staple"

// Config is the configuration Open starts from: ServerName, open
// registration, rate limits off, cheap password hashing, and a database
// in a fresh temporary directory (in a browser test run, a unique file in
// the VFS named by HEARTH_TEST_VFS).
func Config(tb testing.TB) services.Config {
	tb.Helper()
	path, vfs := "", os.Getenv("HEARTH_TEST_VFS")
	if vfs != "" {
		b := make([]byte, 8)
		rand.Read(b)
		path = "/" + hex.EncodeToString(b) + "-hearthtest.db"
	} else {
		path = filepath.Join(tb.TempDir(), "hearth.db")
	}
	return services.Config{
		Storage:  storage.Options{Path: path, VFS: vfs, Logger: slog.New(slog.DiscardHandler)},
		Client:   clientapi.Settings{ServerName: ServerName, Version: "test", Registration: "open"},
		Password: storage.PasswordParams{Memory: 64, Time: 1, Threads: 1},
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// Open builds the graph on a fresh database; mods adjust Config first
// (the clock, the server name, settings). The graph and its database are
// closed when the test ends.
func Open(tb testing.TB, mods ...func(*services.Config)) *services.Graph {
	tb.Helper()
	cfg := Config(tb)
	for _, m := range mods {
		m(&cfg)
	}
	g, err := services.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("services.Open: %v", err)
	}
	tb.Cleanup(func() { g.CloseAll() })
	return g
}

// User is a local user logged in on one device.
type User struct {
	UserID      string
	DeviceID    string
	AccessToken string
}

// CreateUser makes the account @localpart (password Password), an admin
// when admin is set, if it does not exist yet, and logs in a new device
// (deviceID, or a generated one when empty).
func CreateUser(tb testing.TB, g *services.Graph, localpart string, admin bool, deviceID string) User {
	tb.Helper()
	ctx := context.Background()
	userID := "@" + localpart + ":" + g.ServerName
	_, err := g.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: Password, Admin: admin})
	if err != nil && !errors.Is(err, core.ErrUserInUse) {
		tb.Fatalf("creating %s: %v", userID, err)
	}
	if admin {
		if err := g.Accounts.SetAdmin(ctx, userID, true); err != nil {
			tb.Fatalf("making %s an admin: %v", userID, err)
		}
	}
	tok, err := g.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID, DeviceID: deviceID})
	if err != nil {
		tb.Fatalf("logging in %s: %v", userID, err)
	}
	return User{UserID: userID, DeviceID: tok.DeviceID, AccessToken: tok.AccessToken}
}
