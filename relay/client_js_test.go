package relay

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/core/signing"
)

// TestJSNode is a node in js/wasm (the browser's WebSocket, here Node's)
// connected to a native relay: relayserver's TestRelayClientInWasm starts
// the relay and drives it. It reaches another node of the relay through
// the relay's outbound, then serves the transactions the relay forwards,
// which must arrive in order.
func TestJSNode(t *testing.T) {
	url, token := os.Getenv("HEARTH_RELAY_JS_URL"), os.Getenv("HEARTH_RELAY_JS_TOKEN")
	if url == "" {
		t.Skip("driven by relayserver's TestRelayClientInWasm")
	}
	key, err := signing.GenerateKey("js1")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if txn, ok := strings.CutPrefix(r.URL.Path, "/_matrix/federation/v1/send/"); ok && r.Method == "PUT" {
			got <- txn
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"pdus":{}}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	c, err := NewClient(ClientOptions{URL: url, Token: token, ServerName: "js.relay.test", Key: key, Handler: h,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	for i := 0; c.Status().State != StateConnected; i++ {
		if i > 1000 {
			t.Fatalf("never connected: %+v", c.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Outbound through the relay: carol, another node, answers.
	req, _ := http.NewRequest("GET", "matrix-federation://carol.relay.test/_matrix/federation/v1/echo", strings.NewReader("from js"))
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("outbound through the relay: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "from js" {
		t.Fatalf("carol through the relay: %d %q", resp.StatusCode, body)
	}
	fmt.Println("READY")
	for i := range 5 {
		select {
		case txn := <-got:
			if want := fmt.Sprintf("t%d", i); txn != want {
				t.Errorf("transaction %d is %s, want %s", i, txn, want)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d transactions arrived", i)
		}
	}
}
