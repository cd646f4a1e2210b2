package relayserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

// hello dials the relay, answers its challenge as name with key and token
// (mutate may spoil the hello) and returns the relay's answer.
func hello(t *testing.T, n *testNet, name string, key signing.Key, token string, mutate func(*relay.Frame)) *relay.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+domain+relay.ConnectPath,
		&websocket.DialOptions{HTTPClient: n.client(), Subprotocols: []string{relay.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := relay.Decode(b)
	if err != nil || ch.Type != relay.TypeChallenge {
		t.Fatalf("first frame: %v %v, want a challenge", ch, err)
	}
	h, err := relay.NewHello(ch, name, key, token)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(h)
	}
	out, err := relay.Encode(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(ctx, websocket.MessageBinary, out); err != nil {
		t.Fatal(err)
	}
	_, b, err = ws.Read(ctx)
	if err != nil {
		t.Fatalf("reading the answer to the hello: %v", err)
	}
	ans, err := relay.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Type == relay.TypeAck {
		ws.Close(websocket.StatusNormalClosure, "")
	}
	return ans
}

// Tokens are single-use, expire and bind one name to one key; a node can
// only claim its own name; a socket that does not authenticate gets
// nothing but the challenge.
func TestRelayHandshake(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), nil)
	kb, kx := mustKey(t, "b1"), mustKey(t, "x1")
	bobToken := tr.addNode(t, "bob")
	carolToken := tr.addNode(t, "carol")
	expired, err := relayserver.AddNode(context.Background(), tr.store, "dave", time.Hour, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name, who, token string
		key              signing.Key
		mutate           func(*relay.Frame)
	}{
		{"carol's token for bob", "bob.relay.test", carolToken, kb, nil},
		{"expired token", "dave.relay.test", expired, kb, nil},
		{"no token, no key bound", "bob.relay.test", "", kb, nil},
		{"name outside the domain", "bob.example.org", bobToken, kb, nil},
		{"unknown name", "eve.relay.test", bobToken, kb, nil},
		{"signature by another key", "bob.relay.test", bobToken, kb, func(f *relay.Frame) { f.Key = kx.Public() }},
		{"garbage token", "bob.relay.test", "hrt_nope", kb, nil},
	}
	for _, tc := range refused {
		if ans := hello(t, n, tc.who, tc.key, tc.token, tc.mutate); ans.Type != relay.TypeError {
			t.Errorf("%s: the relay answered %s, want error", tc.name, ans.Type)
		}
	}
	// None of those bound anything: bob's token still works, once.
	if ans := hello(t, n, "bob.relay.test", kb, bobToken, nil); ans.Type != relay.TypeAck || ans.Name != "bob.relay.test" {
		t.Fatalf("bob with his token: %+v", ans)
	}
	if ans := hello(t, n, "bob.relay.test", kx, bobToken, nil); ans.Type != relay.TypeError {
		t.Errorf("the spent token with another key: %s, want error", ans.Type)
	}
	if ans := hello(t, n, "bob.relay.test", kb, "", nil); ans.Type != relay.TypeAck {
		t.Errorf("bob with his key alone: %s, want ack", ans.Type)
	}
	if ans := hello(t, n, "bob.relay.test", kx, "", nil); ans.Type != relay.TypeError {
		t.Errorf("another key claiming bob: %s, want error", ans.Type)
	}
	if ans := hello(t, n, "carol.relay.test", kb, "", nil); ans.Type != relay.TypeError {
		t.Errorf("bob's key claiming carol: %s, want error", ans.Type)
	}
}

// An unauthenticated socket that sends a request instead of a hello gets
// an error frame and is closed; no request reaches any node.
func TestRelayUnauthenticatedSocket(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), nil)
	kb := mustKey(t, "b1")
	rec := newRecorder("bob."+domain, kb)
	node := startNode(t, n, "bob", tr.addNode(t, "bob"), kb, rec)
	waitFor(t, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+domain+relay.ConnectPath,
		&websocket.DialOptions{HTTPClient: n.client(), Subprotocols: []string{relay.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := relay.Encode(&relay.Frame{Type: relay.TypeRequest, ID: 1, Method: "PUT",
		Target: "/_matrix/federation/v1/send/sneaky", Host: "bob.relay.test", Body: []byte(`{}`)})
	ws.Write(ctx, websocket.MessageBinary, b)
	_, b, err = ws.Read(ctx)
	if err != nil {
		t.Fatalf("no error frame: %v", err)
	}
	if f, err := relay.Decode(b); err != nil || f.Type != relay.TypeError {
		t.Errorf("answer to a request before the hello: %v %v, want an error frame", f, err)
	}
	if _, _, err := ws.Read(ctx); err == nil {
		t.Error("the socket stayed open after the error")
	}
	if got := rec.received(); len(got) != 0 {
		t.Errorf("the node received %v", got)
	}
	// A socket without the subprotocol is closed at once.
	ws2, _, err := websocket.Dial(ctx, "wss://"+domain+relay.ConnectPath, &websocket.DialOptions{HTTPClient: n.client()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws2.CloseNow()
	if _, _, err := ws2.Read(ctx); err == nil {
		t.Error("a socket without the subprotocol got a frame")
	}
}
