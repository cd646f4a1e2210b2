package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"hearth.dev/hearth"
	"hearth.dev/hearth/storage"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// createDB makes a hearth database in a fresh data folder.
func createDB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := hearth.DefaultConfig()
	cfg.DataDir = dir
	cfg.LogLevel = "error"
	hs, err := hearth.Open(context.Background(), cfg, hearth.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()
	return dir
}

func TestGenerateConfigIsTheDefault(t *testing.T) {
	out, err := runCLI(t, "serve", "--generate-config")
	if err != nil {
		t.Fatal(err)
	}
	if out != hearth.DefaultConfigYAML {
		t.Error("--generate-config does not print the default configuration")
	}
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte(out), 0o600)
	cfg := hearth.DefaultConfig()
	if err := cfg.LoadConfigFile(path); err != nil {
		t.Errorf("generated config does not load: %v", err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("server_name: from-file\nlisten: 127.0.0.1:1\nlog_level: warn\ndatabase:\n  state_file: file-state.db\n"), 0o600)
	t.Setenv("HEARTH_LISTEN", "127.0.0.1:2")
	t.Setenv("HEARTH_LOG_LEVEL", "debug")
	t.Setenv("HEARTH_DATABASE_STATE_FILE", "env-state.db")
	fs := newFlagSet()
	load := configFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(cfg.ServerName, " ", cfg.Listen, " ", cfg.LogLevel, " ", cfg.Database.StateFile)
	if want := "from-file 127.0.0.1:2 error env-state.db"; got != want {
		t.Errorf("config = %q, want %q (flag > env > file > default)", got, want)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--registration", "sometimes"},
		{"--rate-limits", "maybe"},
		{"--log-level", "loud"},
		{"--database-synchronous", "extra"},
	} {
		fs := newFlagSet()
		load := configFlags(fs)
		fs.Parse(args)
		if _, err := load(); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	path := filepath.Join(t.TempDir(), "typo.yaml")
	os.WriteFile(path, []byte("server_nmae: x\n"), 0o600)
	cfg := hearth.DefaultConfig()
	if err := cfg.LoadConfigFile(path); err == nil {
		t.Error("unknown key server_nmae accepted")
	}
}

func TestRefusesTooNewDatabase(t *testing.T) {
	dir := createDB(t)
	dbPath := filepath.Join(dir, "hearth.db")
	db, err := sql.Open("sqlite3", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	newer := storage.SchemaVersion + 5
	if _, err := db.Exec("UPDATE schema_compat_version SET compat_version = ?", newer); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(dbPath)

	out, err := runCLI(t, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0")
	if err == nil {
		t.Fatal("serve started on a too-new database")
	}
	for _, want := range []string{fmt.Sprint(newer), fmt.Sprint(storage.SchemaVersion), dbPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q (output %q) does not mention %q", err, out, want)
		}
	}
	after, _ := os.ReadFile(dbPath)
	if !bytes.Equal(before, after) {
		t.Error("refused database was modified")
	}
	if _, err := runCLI(t, "db", "check", "--data-dir", dir); err == nil {
		t.Error("db check reports a too-new database as fine")
	}
}

func TestRefusesRename(t *testing.T) {
	dir := createDB(t)
	_, err := runCLI(t, "serve", "--data-dir", dir, "--server-name", "elsewhere.example", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "localhost") || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Errorf("serve with another server name: %v", err)
	}
}

func TestDBCheckExportImport(t *testing.T) {
	dir := createDB(t)
	out, err := runCLI(t, "db", "check", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("schema version:  %d", storage.SchemaVersion), "compat version:  1", "server name:     localhost", "pending background updates: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("db check output lacks %q:\n%s", want, out)
		}
	}
	exported := filepath.Join(t.TempDir(), "export.db")
	if _, err := runCLI(t, "db", "export", "--data-dir", dir, exported); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "db", "export", "--data-dir", dir, exported); err == nil {
		t.Error("export overwrote an existing file")
	}
	dir2 := filepath.Join(t.TempDir(), "imported")
	if _, err := runCLI(t, "db", "import", "--data-dir", dir2, exported); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "db", "check", "--data-dir", dir2)
	if err != nil || !strings.Contains(out, "server name:     localhost") {
		t.Errorf("imported database: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "db", "import", "--data-dir", dir2, exported); err == nil {
		t.Error("import replaced an existing database")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("junk"), 2000), 0o600)
	if _, err := runCLI(t, "db", "import", "--data-dir", filepath.Join(t.TempDir(), "x"), garbage); err == nil {
		t.Error("import accepted a file that is not a database")
	}
}

// TestServeBinary starts the real binary, asks /versions, and stops it with
// SIGTERM: it must exit 0. It also checks the one-line error and exit code
// of a refused database.
func TestServeBinary(t *testing.T) {
	bin := hearthBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--listen", addr, "--log-level", "warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var body struct{ Versions []string }
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/_matrix/client/versions")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no answer: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(body.Versions) == 0 {
		t.Error("/versions has no versions")
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve did not stop cleanly on SIGINT: %v\n%s", err, stderr.String())
	}

	// A garbage file where the database should be: one line, exit 1.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "hearth.db"), bytes.Repeat([]byte("x"), 5000), 0o600)
	out, err := exec.Command(bin, "serve", "--data-dir", bad, "--listen", "127.0.0.1:0").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Errorf("serve on a garbage file: %v", err)
	}
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 1 || !strings.Contains(string(out), "not a hearth database") {
		t.Errorf("serve on a garbage file printed %d lines:\n%s", lines, out)
	}
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("hearth-test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
