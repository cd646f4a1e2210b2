package relayserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

const domain = "relay.test"

// quiet logs only warnings and errors.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// testNet is the loopback network of a test: a CA that signed a wildcard
// certificate for *.relay.test, and the address the relay listens on now
// (it changes when the relay restarts), which every name resolves to.
type testNet struct {
	pool  *x509.CertPool
	cert  tls.Certificate
	addr  atomic.Pointer[string]
	caPEM []byte
}

// caFile writes the test CA where federation.ca_file can name it.
func (n *testNet) caFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, n.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestNet(t testing.TB) *testNet {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hearth relay test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "*." + domain},
		DNSNames: []string{"*." + domain, domain}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNet{pool: x509.NewCertPool(), cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey},
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	n.pool.AddCert(ca)
	return n
}

// client is an HTTPS client of the test network: every name dials the
// relay, certificates are checked against the test CA.
func (n *testNet) client() *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, *n.addr.Load())
		},
		TLSClientConfig:   &tls.Config{RootCAs: n.pool},
		ForceAttemptHTTP2: false,
	}}
}

type testRelay struct {
	srv   *relayserver.Server
	store *relayserver.SQLite
	http  *httptest.Server
}

// startRelay runs a relay over HTTPS on 127.0.0.1 with its state in dir.
func startRelay(t testing.TB, n *testNet, dir string, mod func(*relayserver.Config)) *testRelay {
	t.Helper()
	return startRelayHTTP(t, n, dir, mod, nil)
}

// startRelayHTTP is startRelay with the HTTP server's settings changed by
// httpMod before it starts.
func startRelayHTTP(t testing.TB, n *testNet, dir string, mod func(*relayserver.Config), httpMod func(*http.Server)) *testRelay {
	t.Helper()
	st, err := relayserver.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := relayserver.Config{Domain: domain, Store: st, ForwardTimeout: 20 * time.Second, Logger: quiet}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := relayserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{n.cert}}
	if httpMod != nil {
		httpMod(hs.Config)
	}
	hs.StartTLS()
	addr := hs.Listener.Addr().String()
	n.addr.Store(&addr)
	tr := &testRelay{srv: srv, store: st, http: hs}
	t.Cleanup(tr.stop)
	return tr
}

func (tr *testRelay) stop() {
	if tr.http == nil {
		return
	}
	tr.srv.Close()
	tr.http.CloseClientConnections()
	tr.http.Close()
	tr.store.Close()
	tr.http = nil
}

func (tr *testRelay) addNode(t testing.TB, label string) string {
	t.Helper()
	tok, err := tr.srv.AddNode(context.Background(), label)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// recorder is a node's federation handler: its real key server, and a
// /send that records transaction ids in the order they arrive.
type recorder struct {
	keys http.Handler
	mu   sync.Mutex
	txns []string
	auth []string
	// block, when set, holds requests to /_matrix/federation/v1/slow
	// until the request's context ends.
	slow bool
}

func newRecorder(name string, key signing.Key) *recorder {
	return &recorder{keys: federation.NewKeyServer(federation.KeyServerOptions{ServerName: name, Key: key})}
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/_matrix/key/"):
		rc.keys.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/_matrix/federation/v1/send/") && r.Method == http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		var txn struct {
			Origin string `json:"origin"`
		}
		if json.Unmarshal(body, &txn) != nil {
			http.Error(w, `{"errcode":"M_NOT_JSON"}`, 400)
			return
		}
		rc.mu.Lock()
		rc.txns = append(rc.txns, strings.TrimPrefix(r.URL.Path, "/_matrix/federation/v1/send/"))
		rc.auth = append(rc.auth, r.Header.Get("Authorization"))
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"pdus":{}}`))
	case r.URL.Path == "/_matrix/federation/v1/slow":
		<-r.Context().Done()
	case r.URL.Path == "/_matrix/federation/v1/echo":
		w.Header().Set("X-Echo", r.Header.Get("X-Echo"))
		io.Copy(w, r.Body)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`))
	}
}

func (rc *recorder) received() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.txns...)
}

type testNode struct {
	client *relay.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// startNode connects a node named label.relay.test to the relay.
func startNode(t testing.TB, n *testNet, label, token string, key signing.Key, h http.Handler) *testNode {
	t.Helper()
	c, err := relay.NewClient(relay.ClientOptions{
		URL: "wss://" + domain + relay.ConnectPath, Token: token, ServerName: label + "." + domain,
		Key: key, Handler: h, HTTPClient: n.client(), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{client: c, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(tn.done); c.Run(ctx) }()
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) stop() {
	tn.cancel()
	<-tn.done
}

// waitFor polls cond until it holds; the test fails if it never does.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting until %s", what)
}

func mustKey(t testing.TB, version string) signing.Key {
	t.Helper()
	k, err := signing.GenerateKey(version)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// do sends a request through the test network and returns status and body.
func do(t testing.TB, c *http.Client, method, url, body string, header http.Header) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}

func errcode(b []byte) string {
	var e struct {
		ErrCode string `json:"errcode"`
	}
	json.Unmarshal(b, &e)
	return e.ErrCode
}

type responseRecorder struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func newResponseRecorder() *responseRecorder { return &responseRecorder{h: http.Header{}} }

func (r *responseRecorder) Header() http.Header { return r.h }
func (r *responseRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *responseRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.buf.Write(p)
}
func (r *responseRecorder) result(req *http.Request) *http.Response {
	if r.status == 0 {
		r.status = 200
	}
	return &http.Response{StatusCode: r.status, Header: r.h, Body: io.NopCloser(&r.buf), Request: req}
}

func poolOf(t testing.TB, pemBytes []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate in the CA file")
	}
	return p
}
