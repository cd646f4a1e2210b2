package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWire sends requests through the tool's HTTP/1.1 client to a real
// net/http server on loopback: what the server sees (method, path, token,
// body) and what comes back (status, bodies with a length and chunked)
// must match, over kept-alive connections and after the server closes one.
func TestWire(t *testing.T) {
	var conns atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /base/echo/{n}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, r.Header.Get("Authorization")+"|"+r.PathValue("n")+"|"+string(b))
	})
	mux.HandleFunc("GET /base/big", func(w http.ResponseWriter, r *http.Request) {
		// Large and flushed in parts: net/http sends it chunked.
		for i := range 100 {
			io.WriteString(w, strings.Repeat(strconv.Itoa(i%10), 1000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /base/missing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, `{"errcode":"M_NOT_FOUND"}`)
	})
	mux.HandleFunc("GET /base/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	w := newWire(srv.URL+"/base", 4)
	if w == nil {
		t.Fatal("newWire refused an http URL")
	}
	for i := range 20 {
		body := []byte(`{"n":` + strconv.Itoa(i) + `}`)
		status, got, err := w.do("PUT", "/echo/"+strconv.Itoa(i), "tok", body)
		if err != nil || status != 200 {
			t.Fatalf("PUT %d: %d %v", i, status, err)
		}
		if want := "Bearer tok|" + strconv.Itoa(i) + "|" + string(body); string(got) != want {
			t.Fatalf("PUT %d: got %q, want %q", i, got, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests used %d connections, want 1 kept alive", n)
	}
	status, got, err := w.do("GET", "/big", "", nil)
	if err != nil || status != 200 {
		t.Fatalf("GET /big: %d %v", status, err)
	}
	var want bytes.Buffer
	for i := range 100 {
		want.WriteString(strings.Repeat(strconv.Itoa(i%10), 1000))
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("chunked body: got %d bytes, want %d", len(got), want.Len())
	}
	status, got, err = w.do("GET", "/missing", "", nil)
	if err != nil || status != 404 || string(got) != `{"errcode":"M_NOT_FOUND"}` {
		t.Fatalf("GET /missing: %d %q %v", status, got, err)
	}
	if status, got, err = w.do("GET", "/close", "", nil); err != nil || status != 200 || string(got) != "bye" {
		t.Fatalf("GET /close: %d %q %v", status, got, err)
	}
	// The server closed that connection; so it is not kept, and the next
	// request dials anew.
	before := conns.Load()
	if status, _, err = w.do("PUT", "/echo/1", "", []byte("{}")); err != nil || status != 200 {
		t.Fatalf("after close: %d %v", status, err)
	}
	if conns.Load() != before+1 {
		t.Errorf("a connection the server closed was used again")
	}
	// Idle connections the server dropped are replaced without an error.
	srv.CloseClientConnections()
	if status, _, err = w.do("PUT", "/echo/2", "", []byte("{}")); err != nil || status != 200 {
		t.Fatalf("after the server dropped idle connections: %d %v", status, err)
	}
}

// TestClientThroughWire runs the tool's client (answer checking, JSON
// decoding) over the wire client.
func TestClientThroughWire(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(403)
			io.WriteString(w, `{"errcode":"M_FORBIDDEN"}`)
			return
		}
		io.WriteString(w, `{"room_id":"!r:x"}`)
	}))
	defer srv.Close()
	c := &client{base: srv.URL, wire: newWire(srv.URL, 2)}
	var out struct {
		RoomID string `json:"room_id"`
	}
	if err := c.do("POST", "/ok", map[string]any{"a": 1}, &out); err != nil || out.RoomID != "!r:x" {
		t.Fatalf("got %+v, %v", out, err)
	}
	if err := c.do("GET", "/bad", nil, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a 403 answer gave %v", err)
	}
}
