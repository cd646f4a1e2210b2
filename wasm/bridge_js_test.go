package main

import (
	"database/sql"
	"syscall/js"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/driver"
)

// openScratch opens a database file of the OPFS on one connection.
func openScratch(name string) (*sql.DB, error) {
	db, err := driver.Open("file:" + name + "?vfs=opfs&_pragma=locking_mode(exclusive)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// callBridge calls method on the bridge object with args and a callback,
// and returns what the callback got.
func callBridge(t *testing.T, obj js.Value, method string, args ...any) (errV, value js.Value) {
	t.Helper()
	type result struct{ err, value js.Value }
	got := make(chan result, 1)
	cb := js.FuncOf(func(this js.Value, a []js.Value) any {
		got <- result{a[0], a[1]}
		return nil
	})
	defer cb.Release()
	obj.Call(method, append(args, cb)...)
	select {
	case r := <-got:
		return r.err, r.value
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: no callback", method)
	}
	return js.Undefined(), js.Undefined()
}

func TestBridge(t *testing.T) {
	h := newTestHost(t)
	global := js.Global().Get("Object").New()
	installBridge(global, h)
	obj := global.Get("hearthWasm")

	errV, _ := callBridge(t, obj, "status")
	if errV.IsNull() || errV.Get("code").String() != codeNotRunning {
		t.Fatalf("status before start: err %v, want code %s", jsString(errV), codeNotRunning)
	}
	errV, _ = callBridge(t, obj, "start", js.ValueOf(map[string]any{"serverName": "tab.test", "storage": "opfs"}))
	if errV.IsNull() || errV.Get("code").String() != codeNeedsOwner {
		t.Fatalf("start without owner: err %v, want code %s", jsString(errV), codeNeedsOwner)
	}
	errV, st := callBridge(t, obj, "start", js.ValueOf(map[string]any{
		"serverName": "tab.test", "storage": "opfs", "logLevel": "warn",
		"owner": map[string]any{"name": "me", "password": "pw"},
	}))
	if !errV.IsNull() {
		t.Fatalf("start: %v", jsString(errV))
	}
	if st.Get("storage").String() != "opfs" || st.Get("serverName").String() != "tab.test" ||
		st.Get("ownerCreated").String() != "@me:tab.test" || st.Get("databaseBytes").Float() <= 0 ||
		st.Get("relay").Get("state").String() != "off" {
		t.Fatalf("start status: %v", jsString(js.Global().Get("JSON").Call("stringify", st)))
	}
	// The bridge's start was asked for, after the program began, and the
	// phases say so.
	if ph := st.Get("startupPhases"); !startAsked.Load() || ph.Get("askedAfterMs").Type() != js.TypeNumber ||
		ph.Get("askedAfterMs").Float() <= 0 || ph.Get("warmSteps").Type() != js.TypeNumber {
		t.Fatalf("start phases: %v", jsString(js.Global().Get("JSON").Call("stringify", ph)))
	}

	body := []byte(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"me"},"password":"pw"}`)
	headers := js.ValueOf([]any{[]any{"Content-Type", "application/json"}})
	errV, res := callBridge(t, obj, "fetch", "r1", "POST", testOrigin+"/_matrix/client/v3/login", headers, uint8Array(body))
	if !errV.IsNull() {
		t.Fatalf("fetch: %v", jsString(errV))
	}
	if res.Get("status").Int() != 200 {
		t.Fatalf("login status %d: %s", res.Get("status").Int(), bytesOf(res.Get("body")))
	}
	var contentType string
	for i := range res.Get("headers").Length() {
		kv := res.Get("headers").Index(i)
		if kv.Index(0).String() == "Content-Type" {
			contentType = kv.Index(1).String()
		}
	}
	if contentType != "application/json" {
		t.Errorf("login Content-Type %q, want application/json", contentType)
	}

	errV, b := callBridge(t, obj, "exportDatabase")
	if !errV.IsNull() || string(bytesOf(b)[:15]) != "SQLite format 3" {
		t.Fatalf("exportDatabase: %v, %d bytes", jsString(errV), b.Get("byteLength").Int())
	}
	errV, _ = callBridge(t, obj, "importDatabase", b, "opfs")
	if errV.IsNull() || errV.Get("code").String() != codeRunning {
		t.Fatalf("import while running: err %v, want code %s", jsString(errV), codeRunning)
	}
	if errV, _ := callBridge(t, obj, "stop"); !errV.IsNull() {
		t.Fatalf("stop: %v", jsString(errV))
	}
	errV, _ = callBridge(t, obj, "fetch", "r2", "GET", testOrigin+"/_matrix/client/versions", js.Null(), js.Null())
	if errV.IsNull() || errV.Get("code").String() != codeNotRunning {
		t.Fatalf("fetch after stop: err %v, want code %s", jsString(errV), codeNotRunning)
	}
	if errV, _ := callBridge(t, obj, "importDatabase", b, "opfs"); !errV.IsNull() {
		t.Fatalf("import after stop: %v", jsString(errV))
	}
}

func jsString(v js.Value) string {
	if v.IsNull() || v.IsUndefined() {
		return v.String()
	}
	return js.Global().Get("JSON").Call("stringify", v).String()
}
