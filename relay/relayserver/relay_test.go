package relayserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

// A node behind the relay, with no listener, answers federation requests
// for its name: its own key server signs the keys the caller receives.
func TestRelayForwardsToNode(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), nil)
	key := mustKey(t, "b1")
	node := startNode(t, n, "bob", tr.addNode(t, "bob"), key, newRecorder("bob."+domain, key))
	waitFor(t, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })
	c := n.client()

	status, body, _ := do(t, c, "GET", "https://bob.relay.test/_matrix/key/v2/server", "", nil)
	if status != 200 {
		t.Fatalf("GET keys through the relay: %d %s", status, body)
	}
	if err := signing.VerifyJSON(body, "bob."+domain, key.ID, key.Public()); err != nil {
		t.Errorf("the keys are not bob's own signed keys: %v\n%s", err, body)
	}

	status, body, _ = do(t, c, "GET", "https://bob.relay.test/.well-known/matrix/server", "", nil)
	if status != 200 || !strings.Contains(string(body), `"m.server":"bob.relay.test:443"`) {
		t.Errorf("well-known: %d %s", status, body)
	}
	status, body, _ = do(t, c, "GET", "https://carol.relay.test/_matrix/key/v2/server", "", nil)
	if status != 404 || errcode(body) != "M_NOT_FOUND" {
		t.Errorf("unknown node: %d %s, want 404 M_NOT_FOUND", status, body)
	}
	status, body, _ = do(t, c, "GET", "https://bob.relay.test/_matrix/client/versions", "", nil)
	if status != 404 || errcode(body) != "M_UNRECOGNIZED" {
		t.Errorf("client API through the relay: %d %s, want 404 M_UNRECOGNIZED", status, body)
	}

	// Bodies over a chunk travel both ways in chunk frames.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*relay.ChunkSize/16+1000)
	status, body, hdr := do(t, c, "POST", "https://bob.relay.test/_matrix/federation/v1/echo", string(big), http.Header{"X-Echo": {"yes"}})
	if status != 200 || !bytes.Equal(body, big) || hdr.Get("X-Echo") != "yes" {
		t.Errorf("echo of %d bytes: status %d, %d bytes back, X-Echo %q", len(big), status, len(body), hdr.Get("X-Echo"))
	}

	// The TLS server name must match the Host.
	req, _ := http.NewRequest("GET", "https://bob.relay.test/_matrix/key/v2/server", nil)
	req.Host = "alice.relay.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("SNI bob, Host alice: %d, want 421", resp.StatusCode)
	}
}

// A node that does not answer in time gives 504 with a Matrix error.
func TestRelayTimeout(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) { c.ForwardTimeout = 200 * time.Millisecond })
	key := mustKey(t, "b1")
	node := startNode(t, n, "bob", tr.addNode(t, "bob"), key, newRecorder("bob."+domain, key))
	waitFor(t, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })
	status, body, _ := do(t, n.client(), "GET", "https://bob.relay.test/_matrix/federation/v1/slow", "", nil)
	if status != http.StatusGatewayTimeout || errcode(body) != "M_UNKNOWN" {
		t.Errorf("slow node: %d %s, want 504 M_UNKNOWN", status, body)
	}
}

func putTxn(t testing.TB, c *http.Client, label, txn string) (int, []byte) {
	t.Helper()
	status, body, _ := do(t, c, "PUT", "https://"+label+".relay.test/_matrix/federation/v1/send/"+txn,
		`{"origin":"hs.example","origin_server_ts":1,"pdus":[]}`,
		http.Header{"Authorization": {`X-Matrix origin="hs.example",destination="` + label + `.relay.test",key="ed25519:1",sig="` + txn + `"`},
			"Content-Type": {"application/json"}})
	return status, body
}

// While the node is away its transactions are stored, acknowledged, and
// replayed in order, once, when it returns, with their original headers.
// Its keys are answered from the relay's copy; anything else is 503.
func TestRelayStoreAndForward(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), nil)
	key := mustKey(t, "b1")
	token := tr.addNode(t, "bob")
	rec := newRecorder("bob."+domain, key)
	node := startNode(t, n, "bob", token, key, rec)
	waitFor(t, "bob is connected", func() bool { return tr.srv.Connected("bob") })
	c := n.client()
	if status, body := putTxn(t, c, "bob", "live1"); status != 200 {
		t.Fatalf("live /send: %d %s", status, body)
	}
	// The relay keeps bob's keys once he has connected.
	waitFor(t, "the relay holds bob's keys", func() bool {
		nd, err := tr.store.Node(context.Background(), "bob")
		return err == nil && len(nd.ServerKeys) > 0
	})
	node.stop()
	waitFor(t, "bob is disconnected", func() bool { return !tr.srv.Connected("bob") })

	var want []string
	want = append(want, "live1")
	for i := range 50 {
		txn := fmt.Sprintf("t%03d", i)
		want = append(want, txn)
		status, body := putTxn(t, c, "bob", txn)
		if status != 200 || string(body) != `{"pdus":{}}` {
			t.Fatalf("offline /send %s: %d %s", txn, status, body)
		}
	}
	status, body, _ := do(t, c, "GET", "https://bob.relay.test/_matrix/key/v2/server", "", nil)
	if status != 200 || signing.VerifyJSON(body, "bob."+domain, key.ID, key.Public()) != nil {
		t.Errorf("offline keys: %d %s", status, body)
	}
	status, body, _ = do(t, c, "GET", "https://bob.relay.test/_matrix/federation/v1/version", "", nil)
	if status != 503 || errcode(body) != "M_UNAVAILABLE" {
		t.Errorf("offline /version: %d %s, want 503 M_UNAVAILABLE", status, body)
	}

	// Bob comes back with his key alone (the token is spent).
	node = startNode(t, n, "bob", "", key, rec)
	waitFor(t, "the queue is replayed", func() bool {
		nd, err := tr.store.Node(context.Background(), "bob")
		return err == nil && nd.Queued == 0 && len(rec.received()) >= len(want)
	})
	if status, body := putTxn(t, c, "bob", "live2"); status != 200 {
		t.Fatalf("live /send after the replay: %d %s", status, body)
	}
	want = append(want, "live2")
	got := rec.received()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("bob received\n%v\nwant\n%v", got, want)
	}
	rec.mu.Lock()
	for i, a := range rec.auth {
		if !strings.Contains(a, `sig="`+rec.txns[i]+`"`) {
			t.Errorf("transaction %s arrived with Authorization %q", rec.txns[i], a)
		}
	}
	rec.mu.Unlock()
	if s := node.client.Status(); s.State != relay.StateConnected || s.Queued != 0 {
		t.Errorf("status after the replay: %+v", s)
	}
}

// A relay restarted with transactions queued loses none of them.
func TestRelayRestartKeepsQueue(t *testing.T) {
	n := newTestNet(t)
	dir := t.TempDir()
	tr := startRelay(t, n, dir, nil)
	key := mustKey(t, "b1")
	node := startNode(t, n, "bob", tr.addNode(t, "bob"), key, newRecorder("bob."+domain, key))
	waitFor(t, "bob is connected", func() bool { return tr.srv.Connected("bob") })
	node.stop()
	waitFor(t, "bob is disconnected", func() bool { return !tr.srv.Connected("bob") })
	c := n.client()
	var want []string
	for i := range 20 {
		txn := fmt.Sprintf("q%02d", i)
		want = append(want, txn)
		if status, body := putTxn(t, c, "bob", txn); status != 200 {
			t.Fatalf("/send %s: %d %s", txn, status, body)
		}
	}
	tr.stop()
	tr = startRelay(t, n, dir, nil)
	rec := newRecorder("bob."+domain, key)
	startNode(t, n, "bob", "", key, rec)
	waitFor(t, "the queue is replayed", func() bool { return len(rec.received()) >= len(want) })
	waitFor(t, "the queue is empty", func() bool {
		nd, err := tr.store.Node(context.Background(), "bob")
		return err == nil && nd.Queued == 0
	})
	if got := rec.received(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after the relay's restart bob received %v, want %v", got, want)
	}
}

// Beyond its quota an offline node's transactions get 503, so the sender
// keeps them.
func TestRelayQueueQuota(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) { c.QueueQuota = 2000 })
	tr.addNode(t, "bob")
	c := n.client()
	var codes []int
	for i := range 10 {
		status, _ := putTxn(t, c, "bob", fmt.Sprintf("x%d", i))
		codes = append(codes, status)
	}
	if codes[0] != 200 || codes[9] != 503 {
		t.Errorf("statuses under a 2000-byte quota: %v; want 200 first and 503 at the end", codes)
	}
	nd, err := tr.store.Node(context.Background(), "bob")
	if err != nil || nd.QueueBytes > 2000 {
		t.Errorf("queue holds %d bytes (err %v), quota 2000", nd.QueueBytes, err)
	}
}

// The node's outbound requests: performed by the relay's transport, or
// answered by a node of the same relay directly; rate limited per node.
func TestRelayOutbound(t *testing.T) {
	n := newTestNet(t)
	remote := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"host":%q,"path":%q,"auth":%q}`, r.Host, r.URL.Path, r.Header.Get("Authorization"))
	})
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) {
		c.Outbound = &relayserver.Outbound{Transport: handlerTransport{remote}, Rate: 0.001, Burst: 2}
	})
	kb, kc := mustKey(t, "b1"), mustKey(t, "c1")
	bob := startNode(t, n, "bob", tr.addNode(t, "bob"), kb, newRecorder("bob."+domain, kb))
	startNode(t, n, "carol", tr.addNode(t, "carol"), kc, newRecorder("carol."+domain, kc))
	waitFor(t, "both are connected", func() bool { return tr.srv.Connected("bob") && tr.srv.Connected("carol") })
	hc := &http.Client{Transport: bob.client}

	req, _ := http.NewRequest("GET", "matrix-federation://remote.example/_matrix/federation/v1/version", nil)
	req.Header.Set("Authorization", `X-Matrix origin="bob.relay.test"`)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got["host"] != "remote.example" || got["path"] != "/_matrix/federation/v1/version" || got["auth"] != `X-Matrix origin="bob.relay.test"` {
		t.Errorf("the remote saw %v", got)
	}

	// Carol is on the same relay: her own key server answers.
	resp, err = hc.Get("matrix-federation://carol.relay.test/_matrix/key/v2/server")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || signing.VerifyJSON(body.Bytes(), "carol."+domain, kc.ID, kc.Public()) != nil {
		t.Errorf("carol's keys through bob's relay: %d %s", resp.StatusCode, body)
	}

	// The burst of 2 is spent: the next request is refused.
	resp, err = hc.Get("matrix-federation://remote.example/_matrix/federation/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third outbound request: %d, want 429", resp.StatusCode)
	}
}

// handlerTransport stands in for the federation HTTPS transport: requests
// to matrix-federation://NAME/... reach h with Host NAME.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != relayserver.FederationScheme {
		return nil, fmt.Errorf("scheme %q", r.URL.Scheme)
	}
	rec := newResponseRecorder()
	in := r.Clone(r.Context())
	in.Host = r.URL.Host
	in.RequestURI = r.URL.RequestURI()
	ht.h.ServeHTTP(rec, in)
	return rec.result(r), nil
}

// The cap on requests in flight to one node: while a request holds the
// only slot (its answer is streaming), the next waits, then gets 503.
func TestRelayInFlightCap(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) {
		c.MaxInFlight, c.ForwardTimeout = 1, 300*time.Millisecond
	})
	release := make(chan struct{})
	node := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("["))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Write([]byte("]"))
	})
	nd := startNode(t, n, "bob", tr.addNode(t, "bob"), mustKey(t, "b1"), node)
	waitFor(t, "bob is connected", func() bool { return nd.client.Status().State == relay.StateConnected })
	c := n.client()
	resp, err := c.Get("https://bob.relay.test/_matrix/federation/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	status, body, _ := do(t, c, "GET", "https://bob.relay.test/_matrix/federation/v1/version", "", nil)
	if status != 503 || errcode(body) != "M_UNAVAILABLE" {
		t.Errorf("a request over the cap: %d %s, want 503 M_UNAVAILABLE", status, body)
	}
	close(release)
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "[]" {
		t.Errorf("the streamed answer: %q %v", b, err)
	}
}

// A node's socket outlives the HTTP server's read and write timeouts.
func TestRelaySocketOutlivesHTTPTimeouts(t *testing.T) {
	n := newTestNet(t)
	tr := startRelayHTTP(t, n, t.TempDir(), nil, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	})
	key := mustKey(t, "b1")
	node := startNode(t, n, "bob", tr.addNode(t, "bob"), key, newRecorder("bob."+domain, key))
	waitFor(t, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })
	time.Sleep(600 * time.Millisecond) // past both timeouts
	status, body, _ := do(t, n.client(), "GET", "https://bob.relay.test/_matrix/key/v2/server", "", nil)
	if status != 200 {
		t.Fatalf("after the HTTP timeouts: %d %s", status, body)
	}
	if s := node.client.Status(); s.State != relay.StateConnected {
		t.Errorf("bob's socket: %+v", s)
	}
}

// A node that does not answer a transaction in time (asleep behind a
// socket the relay still believes in) gets it later: the relay keeps it,
// acknowledges it, and replays it.
func TestRelaySendTimeoutStores(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) { c.ForwardTimeout = 200 * time.Millisecond })
	key := mustKey(t, "b1")
	rec := newRecorder("bob."+domain, key)
	asleep := make(chan struct{})
	sleepy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-asleep:
			rec.ServeHTTP(w, r)
		default:
			<-r.Context().Done() // the first delivery gets no answer
		}
	})
	node := startNode(t, n, "bob", tr.addNode(t, "bob"), key, sleepy)
	waitFor(t, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })
	if status, body := putTxn(t, n.client(), "bob", "sleepy"); status != 200 {
		t.Fatalf("/send to a node that does not answer: %d %s, want 200 (stored)", status, body)
	}
	nd, err := tr.store.Node(context.Background(), "bob")
	if err != nil || nd.Queued != 1 {
		t.Fatalf("queued %d (%v), want the transaction kept", nd.Queued, err)
	}
	close(asleep)
	waitFor(t, "the replay delivers it", func() bool { return len(rec.received()) == 1 })
	waitFor(t, "the queue is empty", func() bool {
		nd, err := tr.store.Node(context.Background(), "bob")
		return err == nil && nd.Queued == 0
	})
	if got := rec.received(); len(got) != 1 || got[0] != "sleepy" {
		t.Errorf("bob received %v", got)
	}
}

// A node whose server name is a domain of its own, delegating to its name
// under the relay: it claims bob.relay.test, and its keys, for its own
// name, are served there, also while it is away.
func TestRelayDelegatedName(t *testing.T) {
	n := newTestNet(t)
	tr := startRelay(t, n, t.TempDir(), nil)
	key := mustKey(t, "b1")
	c, err := relay.NewClient(relay.ClientOptions{
		URL: "wss://" + domain + relay.ConnectPath, Token: tr.addNode(t, "bob"), ServerName: "bob.example",
		RelayName: "bob." + domain, Key: key, Handler: newRecorder("bob.example", key), HTTPClient: n.client(), Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	waitFor(t, "bob is connected", func() bool { return tr.srv.Connected("bob") })
	waitFor(t, "the relay holds bob's keys", func() bool {
		nd, err := tr.store.Node(context.Background(), "bob")
		return err == nil && len(nd.ServerKeys) > 0
	})
	cancel()
	<-done
	waitFor(t, "bob is away", func() bool { return !tr.srv.Connected("bob") })
	status, body, _ := do(t, n.client(), "GET", "https://bob.relay.test/_matrix/key/v2/server", "", nil)
	if status != 200 || signing.VerifyJSON(body, "bob.example", key.ID, key.Public()) != nil {
		t.Errorf("bob.example's keys at bob.relay.test: %d %s", status, body)
	}
}
