package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func runCLIContext(ctx context.Context, args ...string) (string, error) {
	var out strings.Builder
	err := run(ctx, args, &out, &out)
	return out.String(), err
}

// servedName asks a running hearth for its name (its published server keys).
func servedName(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/_matrix/key/v2/server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var keys struct {
		ServerName string `json:"server_name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		t.Fatal(err)
	}
	return keys.ServerName
}

// serveOnce starts serve with args, returns the name it serves and stops it.
func serveOnce(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var name string
	var err error
	t.Run(fmt.Sprint(args), func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr := freeAddr(t)
		done := make(chan error, 1)
		go func() {
			_, err := runCLIContext(ctx, append(append([]string{"serve"}, args...), "--listen", addr, "--log-level", "error")...)
			done <- err
		}()
		for name == "" {
			select {
			case err = <-done:
				return
			default:
			}
			if resp, gerr := http.Get("http://" + addr + "/_matrix/client/versions"); gerr == nil {
				resp.Body.Close()
				name = servedName(t, addr)
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		cancel()
		err = <-done
	})
	return name, err
}

// TestServeKeepsStoredServerName: a start that does not name the server
// serves the name stored in the database (made with --server-name, or
// imported); only an explicitly configured different name is refused.
func TestServeKeepsStoredServerName(t *testing.T) {
	dir := t.TempDir()
	if name, err := serveOnce(t, "--data-dir", dir, "--server-name", "first.example"); err != nil || name != "first.example" {
		t.Fatalf("first start with --server-name: %q, %v", name, err)
	}
	if name, err := serveOnce(t, "--data-dir", dir); err != nil || name != "first.example" {
		t.Errorf("start without a name = %q, %v; want the stored first.example", name, err)
	}
	t.Setenv("HEARTH_SERVER_NAME", "first.example")
	if name, err := serveOnce(t, "--data-dir", dir); err != nil || name != "first.example" {
		t.Errorf("start naming the same server = %q, %v", name, err)
	}

	// An explicitly different name is refused, from a flag, the
	// environment or the file, and says both names.
	os.Unsetenv("HEARTH_SERVER_NAME")
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("server_name: file.example\n"), 0o600)
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"--server-name", "flag.example"}, "flag.example"},
		{"env.example", nil, "env.example"},
		{"", []string{"--config", file}, "file.example"},
	} {
		if tc.env != "" {
			t.Setenv("HEARTH_SERVER_NAME", tc.env)
		}
		name, err := serveOnce(t, append([]string{"--data-dir", dir}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), "first.example") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("start as %s on first.example's database: served %q, error %v", tc.want, name, err)
		}
		os.Unsetenv("HEARTH_SERVER_NAME")
	}

	// A database imported from elsewhere (a browser tab's export) keeps
	// its name.
	exported := filepath.Join(t.TempDir(), "export.db")
	if out, err := runCLI(t, "db", "export", "--data-dir", dir, exported); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	imported := filepath.Join(t.TempDir(), "imported")
	if out, err := runCLI(t, "db", "import", "--data-dir", imported, exported); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if name, err := serveOnce(t, "--data-dir", imported); err != nil || name != "first.example" {
		t.Errorf("start on the imported database = %q, %v; want first.example", name, err)
	}

	// A new database without a name is localhost.
	if name, err := serveOnce(t, "--data-dir", t.TempDir()); err != nil || name != "localhost" {
		t.Errorf("new database without a name = %q, %v; want localhost", name, err)
	}
}
