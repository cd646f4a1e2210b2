package relayserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"hearth.dev/hearth"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
	"hearth.dev/hearth/storage"
)

// hearthA runs a directly reachable hearth named 127.0.0.1:PORT whose
// federation listener serves HTTPS with the test certificate; name
// resolution sends bob.relay.test to the relay.
func hearthA(t *testing.T, n *testNet, caFile string) *hearth.Homeserver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := hearth.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ServerName = ln.Addr().String()
	cfg.LogLevel = "warn"
	cfg.Federation.CAFile = caFile
	cfg.Federation.AllowPrivateAddresses = "true"
	cfg.Federation.Resolve = "bob.relay.test=" + *n.addr.Load()
	hs, err := hearth.Open(context.Background(), cfg, hearth.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hs.Federation}
	go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{n.cert}}))
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return hs
}

// hearthB opens the hearth named bob.relay.test in dir: no listener, its
// relay at relay.test, outbound federation through the relay.
func hearthB(t *testing.T, n *testNet, dir, caFile, token string) *hearth.Homeserver {
	t.Helper()
	cfg := hearth.DefaultConfig()
	cfg.DataDir = dir
	cfg.ServerName = "bob.relay.test"
	cfg.LogLevel = "warn"
	cfg.Federation.CAFile = caFile
	cfg.Federation.Resolve = "relay.test=" + *n.addr.Load()
	cfg.Relay.URL = "wss://relay.test" + relay.ConnectPath
	cfg.Relay.Token = token
	cfg.Relay.Outbound = "on"
	hs, err := hearth.Open(context.Background(), cfg, hearth.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// hearth A federates with hearth B, which has no listener and sits behind
// relay R: A's requests reach B's federation handler through R, B's reach
// A through R's outbound; both verify each other's X-Matrix signatures
// with keys fetched through the relay. While B is closed, A's transactions
// wait in R and B takes them all when it opens again.
func TestHearthBehindRelay(t *testing.T) {
	n := newTestNet(t)
	caFile := n.caFile(t)
	transport, err := federation.NewHTTPSTransport(federation.TransportOptions{CAFile: caFile, AllowPrivateAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) {
		c.Outbound = &relayserver.Outbound{Transport: transport, Rate: 1000, Burst: 1000}
	})
	a := hearthA(t, n, caFile)
	dirB := t.TempDir()
	b := hearthB(t, n, dirB, caFile, tr.addNode(t, "bob"))
	waitFor(t, "B is connected to R", func() bool { return b.RelayStatus().State == relay.StateConnected })
	ctx := context.Background()

	// A asks B's version: discovery sends it to R, R over the socket to B.
	var version struct {
		Server struct{ Name string } `json:"server"`
	}
	if err := a.FederationClient.Request(ctx, "bob.relay.test", "GET", "/_matrix/federation/v1/version", nil, &version); err != nil {
		t.Fatalf("A → B /version: %v", err)
	}
	if version.Server.Name != "hearth" {
		t.Errorf("B's /version through R: %+v", version)
	}
	// B asks A's version through R's outbound.
	if err := b.FederationClient.Request(ctx, a.ServerName, "GET", "/_matrix/federation/v1/version", nil, &version); err != nil {
		t.Fatalf("B → A /version through the relay: %v", err)
	}

	// A signed transaction: B verifies A's signature with A's key, which
	// it fetches through R's outbound.
	send := func(txn string) error {
		body := map[string]any{"origin": a.ServerName, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{}}
		var out json.RawMessage
		return a.FederationClient.Request(ctx, "bob.relay.test", "PUT", "/_matrix/federation/v1/send/"+txn, body, &out)
	}
	if err := send("live"); err != nil {
		t.Fatalf("A → B /send: %v", err)
	}

	// B closes; A's transactions are stored by R and acknowledged.
	b.Close()
	waitFor(t, "R sees B gone", func() bool { return !tr.srv.Connected("bob") })
	var txns []string
	for i := range 30 {
		txn := fmt.Sprintf("away%02d", i)
		txns = append(txns, txn)
		if err := send(txn); err != nil {
			t.Fatalf("A → B /send %s while B is closed: %v", txn, err)
		}
	}
	// B's keys are still served, from R's copy of B's own response.
	var keys json.RawMessage
	if err := a.FederationClient.Request(ctx, "bob.relay.test", "GET", "/_matrix/key/v2/server", nil, &keys); err != nil {
		t.Errorf("B's keys while B is closed: %v", err)
	}

	b = hearthB(t, n, dirB, caFile, "")
	waitFor(t, "R has replayed the queue", func() bool {
		nd, err := tr.store.Node(ctx, "bob")
		return err == nil && nd.Queued == 0 && b.RelayStatus().State == relay.StateConnected
	})
	b.Close()
	// Every transaction reached B's transaction layer, which answered it.
	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(dirB, "hearth.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := storage.NewFederationTxnStore(db)
	for _, txn := range append([]string{"live"}, txns...) {
		if _, err := st.FederationTxnResponse(ctx, a.ServerName, txn); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				t.Errorf("transaction %s never reached B", txn)
			} else {
				t.Fatal(err)
			}
		}
	}
}
