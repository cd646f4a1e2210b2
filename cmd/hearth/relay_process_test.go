package main

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
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth"
	"hearth.dev/hearth/storage"
)

// issueWildcard returns a certificate and key for *.domain and domain.
func (ca *testCA) issueWildcard(t *testing.T, domain string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "*." + domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"*." + domain, domain}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = ca.path(domain+".crt"), ca.path(domain+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
	return certFile, keyFile
}

// process is a running hearth binary.
type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

// TestRelayBinaries runs `hearth relay` and a `hearth serve` behind it as
// real processes (B has no listener for federation); hearth A, opened
// in-process, reaches B through the relay and back. B is killed with -9
// while A sends transactions; the relay keeps them and B, started again,
// takes every one.
func TestRelayBinaries(t *testing.T) {
	bin := hearthBinary(t)
	ca := newTestCA(t)
	cert, key := ca.issueWildcard(t, "relay.test")
	relayPort := freePort(t, "127.0.0.1")
	relayAddr := "127.0.0.1:" + strconv.Itoa(relayPort)
	relayDir := t.TempDir()
	out, err := exec.Command(bin, "relay", "node", "add", "--data-dir", relayDir, "bob").CombinedOutput()
	if err != nil {
		t.Fatalf("relay node add: %v\n%s", err, out)
	}
	token := strings.TrimSpace(string(out))
	relayProc := startProcess(t, bin, "relay", "--data-dir", relayDir, "--listen", relayAddr, "--domain", "relay.test",
		"--tls-cert-file", cert, "--tls-key-file", key, "--public-port", strconv.Itoa(relayPort), "--log-level", "warn",
		"--federation-ca-file", ca.path("ca.pem"), "--federation-allow-private-addresses", "true")

	// A, directly reachable at 127.0.0.1:P; bob.relay.test resolves to R.
	aPort := freePort(t, "127.0.0.1")
	aName := "127.0.0.1:" + strconv.Itoa(aPort)
	cfg := hearth.DefaultConfig()
	cfg.ServerName, cfg.DataDir, cfg.LogLevel = aName, t.TempDir(), "error"
	cfg.Federation.CAFile, cfg.Federation.AllowPrivateAddresses = ca.path("ca.pem"), "true"
	cfg.Federation.Resolve = "bob.relay.test=" + relayAddr
	a, err := hearth.Open(context.Background(), cfg, hearth.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	aCert, aKey := ca.issue(t, "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(aCert, aKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", aName)
	if err != nil {
		t.Fatal(err)
	}
	aSrv := &http.Server{Handler: a.Federation}
	go aSrv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}}))
	t.Cleanup(func() { aSrv.Close() })

	dirB := t.TempDir()
	serveB := func(token string) *process {
		return startProcess(t, bin, "serve", "--data-dir", dirB, "--server-name", "bob.relay.test", "--listen", "127.0.0.1:0",
			"--log-level", "warn", "--relay-url", "wss://relay.test:"+strconv.Itoa(relayPort)+"/_hearth/relay/v1/connect",
			"--relay-token", token, "--relay-outbound", "on", "--federation-ca-file", ca.path("ca.pem"),
			"--federation-resolve", "relay.test="+relayAddr)
	}
	ctx := context.Background()
	b := serveB(token)
	version := func() error {
		var v map[string]any
		return a.FederationClient.Request(ctx, "bob.relay.test", "GET", "/_matrix/federation/v1/version", nil, &v)
	}
	waitUntil(t, "B answers through R", func() bool { return version() == nil }, relayProc, b)
	send := func(txn string) error {
		body := map[string]any{"origin": aName, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{}}
		var res json.RawMessage
		return a.FederationClient.Request(ctx, "bob.relay.test", "PUT", "/_matrix/federation/v1/send/"+txn, body, &res)
	}
	// B verifies A's signature with A's key, fetched through R.
	if err := send("live"); err != nil {
		t.Fatalf("A → B /send: %v\n%s", err, b.out)
	}

	b.cmd.Process.Kill() // kill -9
	b.cmd.Wait()
	txns := []string{"live"}
	waitUntil(t, "R stores for B", func() bool { return send("away00") == nil }, relayProc)
	txns = append(txns, "away00")
	for i := 1; i < 30; i++ {
		txn := fmt.Sprintf("away%02d", i)
		if err := send(txn); err != nil {
			t.Fatalf("/send %s with B dead: %v", txn, err)
		}
		txns = append(txns, txn)
	}
	b = serveB("")
	queued := func() string {
		out, _ := exec.Command(bin, "relay", "node", "list", "--data-dir", relayDir).CombinedOutput()
		return string(out)
	}
	waitUntil(t, "R has replayed B's queue", func() bool {
		return strings.Contains(queued(), "queued 0 ") && version() == nil
	}, relayProc, b)
	b.cmd.Process.Kill()
	b.cmd.Wait()

	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(dirB, "hearth.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := storage.NewFederationTxnStore(db)
	for _, txn := range txns {
		if _, err := st.FederationTxnResponse(ctx, aName, txn); err != nil {
			t.Errorf("transaction %s never reached B: %v", txn, err)
		}
	}
}

// waitUntil polls cond; it fails the test with the processes' output if
// cond never holds.
func waitUntil(t *testing.T, what string, cond func() bool, procs ...*process) {
	t.Helper()
	for i := 0; i < 1500; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range procs {
		t.Logf("%s:\n%s", strings.Join(p.cmd.Args, " "), p.out)
	}
	t.Fatalf("gave up waiting until %s", what)
}
