package relayserver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

// startNATS runs a NATS server with JetStream in this process, on
// loopback, its state in a temporary folder.
func startNATS(t testing.TB) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		t.Fatal("NATS did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// instance is one relay instance on the shared NATS.
type instance struct {
	srv  *relayserver.Server
	nc   *nats.Conn
	http *httptest.Server
	addr string
}

func startInstance(t testing.TB, n *testNet, natsURL string) *instance {
	t.Helper()
	return startInstanceTimeout(t, n, natsURL, 20*time.Second)
}

// startInstanceTimeout starts an instance whose forwarded requests wait
// at most timeout for their answer.
func startInstanceTimeout(t testing.TB, n *testNet, natsURL string, timeout time.Duration) *instance {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := relayserver.OpenNATS(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relayserver.New(relayserver.Config{Domain: domain, Store: st, NATS: nc, ForwardTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{n.cert}}
	hs.StartTLS()
	in := &instance{srv: srv, nc: nc, http: hs, addr: hs.Listener.Addr().String()}
	t.Cleanup(in.kill)
	return in
}

// kill stops the instance the hard way: its sockets and its NATS
// connection drop.
func (in *instance) kill() {
	if in.http == nil {
		return
	}
	in.nc.Close()
	in.srv.Close()
	in.http.CloseClientConnections()
	in.http.Close()
	in.http = nil
}

// Two relay instances share one NATS: the node is connected to R1 while
// the traffic arrives at R2; R1 is killed, the node reconnects to R2, and
// nothing is lost.
func TestRelayScaleOut(t *testing.T) {
	n := newTestNet(t)
	natsURL := startNATS(t)
	r1 := startInstance(t, n, natsURL)
	r2 := startInstance(t, n, natsURL)
	token, err := r2.srv.AddNode(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, "b1")
	rec := newRecorder("bob."+domain, key)
	n.addr.Store(&r1.addr) // the node finds R1
	node := startNode(t, n, "bob", token, key, rec)
	waitFor(t, "bob is connected to R1", func() bool { return r1.srv.Connected("bob") })
	waitFor(t, "R1 holds bob's keys", func() bool {
		nd, err := relayserver.OpenNATSNode(r2.nc, "bob")
		return err == nil && len(nd.ServerKeys) > 0
	})

	at2 := &testNet{pool: n.pool, cert: n.cert}
	at2.addr.Store(&r2.addr) // the traffic arrives at R2
	c := at2.client()
	status, body, _ := do(t, c, "GET", "https://bob.relay.test/_matrix/key/v2/server", "", nil)
	if status != 200 || signing.VerifyJSON(body, "bob."+domain, key.ID, key.Public()) != nil {
		t.Fatalf("bob's keys at R2: %d %s", status, body)
	}
	var want []string
	for i := range 10 {
		txn := fmt.Sprintf("live%02d", i)
		want = append(want, txn)
		if status, body := putTxn(t, c, "bob", txn); status != 200 {
			t.Fatalf("/send %s at R2: %d %s", txn, status, body)
		}
	}
	if got := rec.received(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("through R2 and R1 bob received %v, want %v", got, want)
	}

	// R1 dies: bob is offline until he reconnects; R2 stores for him.
	r1.kill()
	waitFor(t, "bob notices", func() bool { return node.client.Status().State != relay.StateConnected })
	for i := range 20 {
		txn := fmt.Sprintf("away%02d", i)
		want = append(want, txn)
		if status, body := putTxn(t, c, "bob", txn); status != 200 {
			t.Fatalf("/send %s at R2 with bob away: %d %s", txn, status, body)
		}
	}
	status, body, _ = do(t, c, "GET", "https://bob.relay.test/_matrix/key/v2/server", "", nil)
	if status != 200 || signing.VerifyJSON(body, "bob."+domain, key.ID, key.Public()) != nil {
		t.Errorf("bob's keys at R2 with bob away: %d %s", status, body)
	}
	n.addr.Store(&r2.addr) // bob's next dial reaches R2
	waitFor(t, "bob reconnects to R2 and takes his queue", func() bool {
		nd, err := relayserver.OpenNATSNode(r2.nc, "bob")
		return r2.srv.Connected("bob") && err == nil && nd.Queued == 0 && len(rec.received()) >= len(want)
	})
	if status, body := putTxn(t, c, "bob", "last"); status != 200 {
		t.Fatalf("/send after the reconnection: %d %s", status, body)
	}
	want = append(want, "last")
	if got := rec.received(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("bob received\n%v\nwant\n%v", got, want)
	}
	_ = http.StatusOK
}

// TestRelayScaleOutHolderSilent: NATS still routes bob's requests to an
// instance that no longer answers (it died and the server has not yet
// dropped its subscription). A /send for bob is stored for his return and
// acknowledged, not answered 504; other requests still time out.
func TestRelayScaleOutHolderSilent(t *testing.T) {
	n := newTestNet(t)
	natsURL := startNATS(t)
	r2 := startInstanceTimeout(t, n, natsURL, 300*time.Millisecond)
	if _, err := r2.srv.AddNode(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	ghost, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ghost.Close()
	sub, err := ghost.Subscribe("hearth.relay.node.bob", func(*nats.Msg) {}) // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := ghost.Flush(); err != nil {
		t.Fatal(err)
	}
	at2 := &testNet{pool: n.pool, cert: n.cert}
	at2.addr.Store(&r2.addr)
	c := at2.client()
	if status, body := putTxn(t, c, "bob", "silent00"); status != 200 {
		t.Fatalf("/send with the holding instance silent: %d %s", status, body)
	}
	nd, err := relayserver.OpenNATSNode(r2.nc, "bob")
	if err != nil || nd.Queued != 1 {
		t.Fatalf("bob's queue after a /send the holder did not answer: %+v, %v; want 1 queued", nd, err)
	}
	if status, body, _ := do(t, c, "GET", "https://bob.relay.test/_matrix/federation/v1/version", "", nil); status != http.StatusGatewayTimeout {
		t.Errorf("GET with the holding instance silent: %d %s, want 504", status, body)
	}
}
