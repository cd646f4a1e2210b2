package services

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientapi"
	"hearth.dev/hearth/storage"
)

func testConfig(path, name string) Config {
	return Config{
		Storage:           storage.Options{Path: path, Logger: slog.New(slog.DiscardHandler)},
		Client:            clientapi.Settings{ServerName: name},
		DefaultServerName: "default.test",
		Password:          storage.PasswordParams{Memory: 64, Time: 1, Threads: 1},
		Logger:            slog.New(slog.DiscardHandler),
	}
}

// TestOpen builds the graph on a new database and again on the same one:
// the name is claimed once, every client service is there, and the
// services share one database.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	g, err := Open(ctx, testConfig(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	if g.ServerName != "default.test" || g.Client.ServerName != "default.test" {
		t.Errorf("server name %q (client %q), want the default for a new database", g.ServerName, g.Client.ServerName)
	}
	if err := g.Client.Check(); err != nil {
		t.Errorf("client services: %v", err)
	}
	if g.SetupToken == "" {
		t.Error("no setup token for a database without accounts")
	}
	if _, err := g.Accounts.CreateAccount(ctx, core.NewAccount{UserID: "@owner:default.test", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if err := g.CloseAll(); err != nil {
		t.Fatal(err)
	}

	g, err = Open(ctx, testConfig(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	if g.ServerName != "default.test" || g.SetupToken != "" {
		t.Errorf("reopened: name %q, setup token %q; want the stored name and no token", g.ServerName, g.SetupToken)
	}
	if _, err := g.Client.Accounts.Account(ctx, "@owner:default.test"); err != nil {
		t.Errorf("the client services do not see the account made before: %v", err)
	}
	g.CloseAll()

	if _, err := Open(ctx, testConfig(path, "other.test")); !errors.Is(err, storage.ErrRenamed) {
		t.Errorf("Open with another name = %v, want storage.ErrRenamed", err)
	}
}

func TestOpenRefusesStreamAdvanced(t *testing.T) {
	cfg := testConfig(filepath.Join(t.TempDir(), "hearth.db"), "")
	cfg.Storage.StreamAdvanced = func() {}
	if _, err := Open(context.Background(), cfg); err == nil {
		t.Error("Open with Storage.StreamAdvanced set = nil, want an error")
	}
}
