//go:build !js

// The connection tests dial with the native WebSocket client; under js/wasm
// the library dials through the host's WebSocket (Node 20 has none without
// --experimental-websocket), which client_js_test.go
// drives against a native relay instead (relayserver's TestRelayClientInWasm).

package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// connPair connects a relay-side and a node-side Conn over a real
// WebSocket on loopback, serving relayH and nodeH.
func connPair(t *testing.T, relayH, nodeH http.Handler, mod func(relay, node *ConnOptions)) (relaySide, nodeSide *Conn) {
	t.Helper()
	ro, no := ConnOptions{Relay: true, Handler: relayH}, ConnOptions{Handler: nodeH}
	if mod != nil {
		mod(&ro, &no)
	}
	got := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := NewConn(ws, ro)
		got <- c
		c.Serve()
	}))
	t.Cleanup(hs.Close)
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeSide = NewConn(ws, no)
	go nodeSide.Serve()
	relaySide = <-got
	t.Cleanup(func() { nodeSide.Close(); relaySide.Close() })
	return relaySide, nodeSide
}

func get(_ *testing.T, ctx context.Context, c *Conn, target string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return nil, err
	}
	req.Host = "bob.relay.test"
	return c.RoundTrip(req)
}

// within fails the test unless ch delivers in a long while (a hang, not
// a timing assertion).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("never: %s", what)
		panic("unreachable")
	}
}

// Cancelling a request on one side cancels the handler's context on the
// other.
func TestConnCancel(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	node := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(cancelled)
	})
	rs, _ := connPair(t, nil, node, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := get(t, ctx, rs, "/_matrix/federation/v1/slow"); errc <- err }()
	within(t, started, "the node's handler starts")
	cancel()
	if err := within(t, errc, "RoundTrip returns"); !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip after cancel: %v", err)
	}
	within(t, cancelled, "the node's handler sees the cancel")
}

// A node serving its limit of requests answers the next one 503 at once.
func TestConnMaxIncoming(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	node := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	})
	rs, _ := connPair(t, nil, node, func(_, n *ConnOptions) { n.MaxIncoming = 1 })
	go get(t, context.Background(), rs, "/a")
	within(t, started, "the first request is served")
	resp, err := get(t, context.Background(), rs, "/b")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !bytes.Contains(body, []byte("M_LIMIT_EXCEEDED")) {
		t.Errorf("second request over the limit: %d %s", resp.StatusCode, body)
	}
	close(release)
}

// A stream whose reader stops is cancelled after StallTimeout; the
// connection goes on serving other requests.
func TestConnSlowReader(t *testing.T) {
	old := StallTimeout
	StallTimeout = 50 * time.Millisecond
	t.Cleanup(func() { StallTimeout = old })
	big := bytes.Repeat([]byte("x"), 40*ChunkSize)
	cancelled := make(chan struct{})
	node := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(big)
			// The relay side cancels the stream once it has stalled.
			<-r.Context().Done()
			close(cancelled)
			return
		}
		w.Write([]byte("small"))
	})
	rs, _ := connPair(t, nil, node, nil)
	resp, err := get(t, context.Background(), rs, "/big")
	if err != nil {
		t.Fatal(err)
	}
	// Read nothing more of /big: the stream fills up, stalls and is
	// cancelled.
	within(t, cancelled, "the stalled stream is cancelled")
	done := make(chan string, 1)
	go func() {
		r2, err := get(t, context.Background(), rs, "/small")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(r2.Body)
		done <- string(b)
	}()
	if got := within(t, done, "a second request passes the stalled one"); got != "small" {
		t.Errorf("second request: %q", got)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Errorf("the stalled body read to the end (%d bytes) without an error", n)
	}
}

// Bodies larger than a chunk go both ways intact; a closed connection
// refuses requests.
func TestConnBodiesAndClose(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	rs, ns := connPair(t, echo, echo, nil)
	big := bytes.Repeat([]byte("0123456789"), ChunkSize/3)
	for _, c := range []*Conn{rs, ns} {
		req, _ := http.NewRequest("POST", "/echo", bytes.NewReader(big))
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(b, big) {
			t.Errorf("echo of %d bytes: %d bytes back, %v", len(big), len(b), err)
		}
	}
	ns.Close()
	within(t, rs.Done(), "the relay side sees the close")
	if _, err := get(t, context.Background(), rs, "/x"); !errors.Is(err, ErrClosed) {
		t.Errorf("RoundTrip on a closed connection: %v", err)
	}
}
