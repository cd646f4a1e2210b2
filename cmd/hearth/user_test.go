package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"hearth.dev/hearth"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

// runUser runs `hearth user ...` through the command switch, with
// password as standard input.
func runUser(t *testing.T, password string, args ...string) (string, error) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(password)
	t.Cleanup(func() { stdin = old })
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"user"}, args...), &out, &errOut)
	return out.String(), err
}

func TestUserCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, err := runUser(t, "s3cret pass\n", "create", "--data-dir", dir, "--server-name", "home.example", "--name", "owner", "--password-stdin", "--admin")
	if err != nil {
		t.Fatalf("user create: %v", err)
	}
	if !strings.Contains(out, "@owner:home.example") {
		t.Errorf("output %q does not name the user", out)
	}
	// A second user in the same folder: the database's server name is kept
	// even though the flag is not given again.
	if _, err := runUser(t, "other\r\n", "create", "--data-dir", dir, "--name", "@kid:home.example", "--password-stdin"); err != nil {
		t.Fatalf("second user: %v", err)
	}

	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(dir, "hearth.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	accounts := storage.NewAccountStore(db, storage.AccountOptions{})
	owner, err := accounts.Account(ctx, "@owner:home.example")
	if err != nil || !owner.Admin {
		t.Errorf("owner = %+v, %v; want an admin", owner, err)
	}
	if err := accounts.CheckPassword(ctx, "@owner:home.example", "s3cret pass"); err != nil {
		t.Errorf("owner's password (line ending stripped): %v", err)
	}
	kid, err := accounts.Account(ctx, "@kid:home.example")
	if err != nil || kid.Admin {
		t.Errorf("kid = %+v, %v; want a plain user", kid, err)
	}
	if err := accounts.CheckPassword(ctx, "@kid:home.example", "other"); err != nil {
		t.Errorf("kid's password (CRLF stripped): %v", err)
	}
	// No setup token is made once an account exists.
	if tok, err := accounts.Start(ctx); err != nil || tok != "" {
		t.Errorf("Start after user create = %q, %v; want no setup token", tok, err)
	}
	if _, err := accounts.CreateAccount(ctx, core.NewAccount{UserID: "@owner:home.example"}); err == nil {
		t.Error("the store let a second owner be created")
	}
}

func TestUserCreateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := runUser(t, "pw\n", "create", "--data-dir", dir, "--name", "taken", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		password string
		args     []string
		want     string
	}{
		{"no subcommand", "pw", nil, "usage"},
		{"unknown subcommand", "pw", []string{"delete"}, "usage"},
		{"no name", "pw", []string{"create", "--data-dir", dir, "--password-stdin"}, "usage"},
		{"no --password-stdin", "pw", []string{"create", "--data-dir", dir, "--name", "x"}, "usage"},
		{"empty password", "\n", []string{"create", "--data-dir", dir, "--name", "x", "--password-stdin"}, "empty"},
		{"taken", "pw", []string{"create", "--data-dir", dir, "--name", "taken", "--password-stdin"}, "already exists"},
		{"upper case", "pw", []string{"create", "--data-dir", dir, "--name", "Bob", "--password-stdin"}, "--name"},
		{"other server", "pw", []string{"create", "--data-dir", dir, "--name", "@bob:elsewhere.org", "--password-stdin"}, "not a user of"},
	}
	for _, tt := range tests {
		_, err := runUser(t, tt.password, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestSetupTokenAtFirstStart: a homeserver without accounts logs a
// one-time setup token at start; registering with it (registration closed)
// makes the admin owner, and later starts log none.
func TestSetupTokenAtFirstStart(t *testing.T) {
	ctx := context.Background()
	cfg := hearth.DefaultConfig()
	cfg.DataDir = t.TempDir()
	var logs bytes.Buffer
	open := func() *hearth.Homeserver {
		t.Helper()
		logs.Reset()
		hs, err := hearth.Open(ctx, cfg, hearth.OpenOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return hs
	}
	hs := open()
	if hs.SetupToken == "" || !strings.Contains(logs.String(), "setup_token="+hs.SetupToken) {
		t.Fatalf("first start: setup token %q, log:\n%s", hs.SetupToken, logs.String())
	}
	register := func(token string) int {
		body := `{"username":"owner","password":"pw","auth":{"type":"m.login.registration_token","token":"` + token + `"}}`
		rec := httptest.NewRecorder()
		hs.Handler.ServeHTTP(rec, httptest.NewRequest("POST", "/_matrix/client/v3/register", strings.NewReader(body)))
		return rec.Code
	}
	if code := register("wrong"); code != 401 {
		t.Errorf("register with a wrong token: %d, want 401", code)
	}
	if code := register(hs.SetupToken); code != 200 {
		t.Fatalf("register with the setup token: %d", code)
	}
	// The owner is an admin: the admin API answers them.
	owner := "@owner:" + hs.ServerName
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/_synapse/admin/v2/users/"+owner, nil)
	token, _ := loginThrough(t, hs.Handler, owner, "pw")
	req.Header.Set("Authorization", "Bearer "+token)
	hs.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"admin":true`) {
		t.Errorf("the owner asking the admin API about themself: %d %s; want an admin", rec.Code, rec.Body.String())
	}
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	hs = open()
	defer hs.Close()
	if hs.SetupToken != "" || strings.Contains(logs.String(), "setup_token") {
		t.Errorf("start with an owner: setup token %q, log:\n%s", hs.SetupToken, logs.String())
	}
}
