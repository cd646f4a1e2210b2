package main

// These tests run in a dedicated worker of a real browser, through
// test/browser/run-go-test.mjs (make test-browser-shell):
//
//	GOOS=js GOARCH=wasm go test -c -o /tmp/wasm.test.wasm ./wasm
//	node test/browser/run-go-test.mjs /tmp/wasm.test.wasm -test.v

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/storage"
)

const testOrigin = "http://127.0.0.1:8008"

// newTestHost returns a stopped host whose database lives in a folder of
// its own, removed at the end of the test.
func newTestHost(t *testing.T) *host {
	t.Helper()
	level := new(slog.LevelVar)
	level.Set(slog.LevelError)
	h := newHost(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), level)
	b := make([]byte, 6)
	rand.Read(b)
	h.dataDir = "/hearth-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		h.stop()
		for _, be := range []backend{backendOPFS, backendIDB} {
			if _, err := be.vfs(); err == nil {
				be.removeDatabase(h.dbPath())
			}
		}
	})
	return h
}

// do sends one request through the host and decodes a JSON answer.
func do(t *testing.T, h *host, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	headers := [][2]string{{"Content-Type", "application/json"}}
	if token != "" {
		headers = append(headers, [2]string{"Authorization", "Bearer " + token})
	}
	r, err := newRequest(method, testOrigin+path, headers, b)
	if err != nil {
		t.Fatal(err)
	}
	w, err := h.serve("", r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var out map[string]any
	if err := json.Unmarshal(w.body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not a JSON object", method, path, w.Status(), w.body.Bytes())
	}
	return w.Status(), out
}

func login(t *testing.T, h *host, user, password string) string {
	t.Helper()
	status, res := do(t, h, "POST", "/_matrix/client/v3/login", "", map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	})
	token, _ := res["access_token"].(string)
	if status != 200 || token == "" {
		t.Fatalf("login as %s: %d %v", user, status, res)
	}
	return token
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ce *codeError
	if !errors.As(err, &ce) || ce.code != code {
		t.Fatalf("%s: error %v, want code %s", what, err, code)
	}
}

func TestHostLifecycle(t *testing.T) {
	for _, be := range []backend{backendOPFS, backendIDB, backendMemory} {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			h := newTestHost(t)
			_, err := h.start(ctx, startOptions{Storage: be.Name, ServerName: "tab.test"})
			wantCode(t, "start of an empty storage without owner", err, codeNeedsOwner)
			if exists, _ := be.exists(h.dbPath()); exists {
				t.Fatalf("a refused start created %s", h.dbPath())
			}

			st, err := h.start(ctx, startOptions{Storage: be.Name, ServerName: "tab.test",
				HasOwner: true, OwnerName: "me", OwnerPassword: "pw"})
			if err != nil {
				t.Fatalf("start with owner: %v", err)
			}
			if st.Storage != be.Name || st.ServerName != "tab.test" || st.OwnerCreated != "@me:tab.test" || st.DatabaseBytes <= 0 {
				t.Fatalf("first start status %+v; want storage %s, server tab.test, owner @me:tab.test created, a size", st, be.Name)
			}
			// The host creates the owner itself: the start made no setup
			// token no one could read (services' prepareRegistration).
			if hs, _, _ := h.running(); hs.SetupToken != "" {
				t.Errorf("the first start made a setup token")
			}
			again, err := h.start(ctx, startOptions{Storage: "memory", ServerName: "other.test"})
			if err != nil || again.Storage != be.Name || again.ServerName != "tab.test" || again.OwnerCreated != "" {
				t.Fatalf("start of a running host: %+v, %v; want the running one unchanged", again, err)
			}

			if status, res := do(t, h, "GET", "/_matrix/client/versions", "", nil); status != 200 || res["versions"] == nil {
				t.Fatalf("/versions: %d %v", status, res)
			}
			token := login(t, h, "me", "pw")
			if status, res := do(t, h, "GET", "/_matrix/client/v3/account/whoami", token, nil); status != 200 || res["user_id"] != "@me:tab.test" {
				t.Fatalf("whoami: %d %v", status, res)
			}
			if status, res := do(t, h, "GET", "/_matrix/client/v3/no/such/endpoint", "", nil); status != 404 || res["errcode"] != "M_UNRECOGNIZED" {
				t.Fatalf("unknown endpoint: %d %v; want 404 M_UNRECOGNIZED", status, res)
			}

			exported, err := h.exportDatabase(ctx)
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if !bytes.HasPrefix(exported, []byte("SQLite format 3\x00")) {
				t.Fatalf("export does not start with the SQLite header: %q", exported[:min(16, len(exported))])
			}
			if err := h.stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			r, _ := newRequest("GET", testOrigin+"/_matrix/client/versions", nil, nil)
			_, err = h.serve("", r)
			wantCode(t, "request after stop", err, codeNotRunning)
			if be == backendMemory {
				err := h.importDatabase(ctx, exported, be.Name)
				wantCode(t, "import into memory", err, codeBadOption)
				return
			}

			// The storage is released: it opens again, owner or not.
			if _, err := h.start(ctx, startOptions{Storage: be.Name}); err != nil {
				t.Fatalf("restart without options: %v", err)
			}
			login(t, h, "me", "pw")
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}

			// An import replaces the database: a new one with another
			// owner, then the exported one back.
			other := newTestHost(t)
			if _, err := other.start(ctx, startOptions{Storage: be.Name, ServerName: "other.test",
				HasOwner: true, OwnerName: "them", OwnerPassword: "pw2"}); err != nil {
				t.Fatal(err)
			}
			otherExport, err := other.exportDatabase(ctx)
			if err != nil {
				t.Fatal(err)
			}
			other.stop()
			if err := h.importDatabase(ctx, otherExport, be.Name); err != nil {
				t.Fatalf("import: %v", err)
			}
			st, err = h.start(ctx, startOptions{Storage: be.Name, ServerName: "tab.test"})
			if err != nil || st.ServerName != "other.test" {
				t.Fatalf("start after importing other.test: %+v, %v; want the imported server name", st, err)
			}
			login(t, h, "them", "pw2")
			err = h.importDatabase(ctx, exported, be.Name)
			wantCode(t, "import while running", err, codeRunning)
			h.stop()
			if err := h.importDatabase(ctx, exported, be.Name); err != nil {
				t.Fatalf("import back: %v", err)
			}
			if st, err := h.start(ctx, startOptions{Storage: be.Name}); err != nil || st.ServerName != "tab.test" {
				t.Fatalf("start after importing back: %+v, %v", st, err)
			}
			login(t, h, "me", "pw")
		})
	}
}

func TestImportRefusals(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	if _, err := h.start(ctx, startOptions{Storage: "opfs", ServerName: "tab.test",
		HasOwner: true, OwnerName: "me", OwnerPassword: "pw"}); err != nil {
		t.Fatal(err)
	}
	exported, err := h.exportDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.stop()

	// A database whose compat version is newer than this build's schema.
	tooNew := tooNewDatabase(t, exported)

	// A SQLite database without hearth's tables.
	foreign := foreignDatabase(t)

	tests := []struct {
		name string
		data []byte
		code string
	}{
		{"empty", nil, codeForeign},
		{"text", []byte(strings.Repeat("not a database ", 20)), codeForeign},
		{"truncated header", exported[:50], codeForeign},
		{"foreign SQLite", foreign, codeForeign},
		{"too new", tooNew, codeTooNew},
	}
	for _, tt := range tests {
		err := h.importDatabase(ctx, tt.data, "opfs")
		wantCode(t, "import of "+tt.name, err, tt.code)
	}
	// The refused imports left the database as it was.
	if _, err := h.start(ctx, startOptions{Storage: "opfs"}); err != nil {
		t.Fatalf("start after refused imports: %v", err)
	}
	login(t, h, "me", "pw")
}

// scratch writes data to a file of the OPFS, runs fn on a database/sql
// handle of it, and returns the file's contents afterwards.
func scratch(t *testing.T, data []byte, fn func(db storage.Queryer)) []byte {
	t.Helper()
	name := "/hearth-test-scratch-" + hex.EncodeToString(randBytes(6)) + ".db"
	t.Cleanup(func() { backendOPFS.removeDatabase(name) })
	if data != nil {
		if err := backendOPFS.writeFile(name, data); err != nil {
			t.Fatal(err)
		}
	}
	db, err := openScratch(name)
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	db.Close()
	out, err := backendOPFS.readFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func tooNewDatabase(t *testing.T, exported []byte) []byte {
	return scratch(t, exported, func(db storage.Queryer) {
		if _, err := db.ExecContext(context.Background(), "UPDATE schema_compat_version SET compat_version = 999"); err != nil {
			t.Fatal(err)
		}
	})
}

func foreignDatabase(t *testing.T) []byte {
	return scratch(t, nil, func(db storage.Queryer) {
		if _, err := db.ExecContext(context.Background(), "CREATE TABLE t (x); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAbort(t *testing.T) {
	ctx := context.Background()
	h := newTestHost(t)
	if _, err := h.start(ctx, startOptions{Storage: "opfs", ServerName: "tab.test",
		HasOwner: true, OwnerName: "me", OwnerPassword: "pw"}); err != nil {
		t.Fatal(err)
	}
	token := login(t, h, "me", "pw")
	// A first sync returns at once; the next one, from its next_batch,
	// waits up to its timeout for something new.
	status, res := do(t, h, "GET", "/_matrix/client/v3/sync", token, nil)
	since, _ := res["next_batch"].(string)
	if status != 200 || since == "" {
		t.Fatalf("first sync: %d %v", status, res)
	}
	r, err := newRequest("GET", testOrigin+"/_matrix/client/v3/sync?timeout=20000&since="+since,
		[][2]string{{"Authorization", "Bearer " + token}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.serve("sync-1", r)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	h.abort("sync-1")
	select {
	case err := <-done:
		wantCode(t, "aborted sync", err, codeAborted)
	case <-time.After(10 * time.Second):
		t.Fatal("the aborted sync did not end")
	}
}

func TestChooseBackend(t *testing.T) {
	tests := []struct {
		want, got, code string
	}{
		{"", "opfs", ""},
		{"auto", "opfs", ""},
		{"opfs", "opfs", ""},
		{"indexeddb", "indexeddb", ""},
		{"memory", "memory", ""},
		{"idb", "", codeBadOption},
		{"OPFS", "", codeBadOption},
	}
	for _, tt := range tests {
		be, err := chooseBackend(tt.want)
		if tt.code != "" {
			wantCode(t, "chooseBackend("+tt.want+")", err, tt.code)
			continue
		}
		if err != nil || be.Name != tt.got {
			t.Errorf("chooseBackend(%q) = %q, %v; want %q", tt.want, be.Name, err, tt.got)
		}
	}
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus int
		wantBody   string
	}{
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, 200, ""},
		{"body only", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }, 200, "hi"},
		{"status then body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			w.WriteHeader(500)
			io.WriteString(w, "x")
		}, 404, "x"},
		{"informational ignored", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(103)
			w.WriteHeader(201)
		}, 201, ""},
		{"flush", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			w.WriteHeader(500)
		}, 200, ""},
		{"echo", func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Write(b)
		}, 200, "payload"},
	}
	for _, tt := range tests {
		r, err := newRequest("PUT", testOrigin+"/p?q=1", [][2]string{{"content-type", "text/plain"}}, []byte("payload"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Header.Get("Content-Type") != "text/plain" || r.ContentLength != 7 || r.RequestURI != "/p?q=1" || r.Host != "127.0.0.1:8008" {
			t.Fatalf("newRequest: header %v, length %d, URI %q, host %q", r.Header, r.ContentLength, r.RequestURI, r.Host)
		}
		w := newResponse()
		tt.handler(w, r)
		if w.Status() != tt.wantStatus || w.body.String() != tt.wantBody {
			t.Errorf("%s: %d %q, want %d %q", tt.name, w.Status(), w.body.String(), tt.wantStatus, tt.wantBody)
		}
	}
	if _, err := newRequest("GET", "::bad", nil, nil); err == nil {
		t.Errorf("newRequest with a bad URL: no error")
	}
}
