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
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/federation"
)

// testCA makes a certificate authority and issues leaf certificates for IP
// addresses, written as PEM files.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hearth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	writePEM(t, ca.path("ca.pem"), "CERTIFICATE", der)
	return ca
}

func (ca *testCA) path(name string) string { return filepath.Join(ca.dir, name) }

// issue returns the paths of a certificate and key for ip.
func (ca *testCA) issue(t *testing.T, ip string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = ca.path(ip+".crt"), ca.path(ip+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServe runs `hearth serve` named ip:port with its federation
// listener there over TLS, and waits until it answers.
func startServe(t *testing.T, ca *testCA, ip string, extra ...string) string {
	t.Helper()
	port := freePort(t, ip)
	name := ip + ":" + strconv.Itoa(port)
	cert, key := ca.issue(t, ip)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"serve", "--server-name", name, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--log-level", "error", "--federation-listen", name, "--federation-tls-cert-file", cert,
		"--federation-tls-key-file", key, "--federation-ca-file", ca.path("ca.pem"),
		"--federation-allow-private-addresses", "true"}, extra...)
	var out bytes.Buffer
	go func() { done <- run(ctx, args, &out, &out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hearth serve %s: %v", name, err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	for i := 0; ; i++ {
		resp, err := client.Get("https://" + name + "/_matrix/federation/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return name
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("hearth serve %s ended: %v\n%s", name, err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 600 {
			t.Fatalf("hearth serve %s never answered: %v", name, err)
		}
	}
}

// TestFederationBetweenTwoServers runs two hearths named by IP literals
// with ports (127.0.0.1:P and 127.0.0.2:Q) with TLS from a test CA, and a
// third server played by the test (127.0.0.3:R, publishing its key over
// TLS). The third sends a signed transaction to the first, which fetches
// its key by server discovery over HTTPS; then it asks the first, as a
// notary, for the second's keys, which the first fetches from the second.
func TestFederationBetweenTwoServers(t *testing.T) {
	ctx := context.Background()
	ca := newTestCA(t)
	a := startServe(t, ca, "127.0.0.1")
	b := startServe(t, ca, "127.0.0.2")

	// The test's own server: its keys over TLS at 127.0.0.3.
	port := freePort(t, "127.0.0.3")
	cName := "127.0.0.3:" + strconv.Itoa(port)
	cKey, err := signing.GenerateKey("c1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := ca.issue(t, "127.0.0.3")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cName)
	if err != nil {
		t.Fatal(err)
	}
	cSrv := httptest.NewUnstartedServer(federation.NewKeyServer(federation.KeyServerOptions{ServerName: cName, Key: cKey}))
	cSrv.Listener.Close()
	cSrv.Listener = ln
	cSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	cSrv.StartTLS()
	defer cSrv.Close()

	transport, err := federation.NewHTTPSTransport(federation.TransportOptions{CAFile: ca.path("ca.pem"), AllowPrivateAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	client := &federation.Client{ServerName: cName, Key: cKey, Transport: transport}

	// A signed transaction with one EDU: accepted, and replayed the same.
	txn := map[string]any{"origin": cName, "origin_server_ts": time.Now().UnixMilli(), "pdus": []any{},
		"edus": []any{map[string]any{"edu_type": "m.typing", "content": map[string]any{"room_id": "!r:" + a, "user_id": "@c:" + cName, "typing": true}}}}
	for range 2 {
		var resp map[string]json.RawMessage
		if err := client.Request(ctx, a, "PUT", "/_matrix/federation/v1/send/txn1", txn, &resp); err != nil {
			t.Fatalf("send to %s: %v", a, err)
		}
		if string(resp["pdus"]) != "{}" {
			t.Errorf("send answer %v", resp)
		}
	}
	// A forged request (signed with another key under c's key ID) is
	// refused.
	forged, _ := signing.GenerateKey("c1")
	forger := &federation.Client{ServerName: cName, Key: forged, Transport: transport}
	var re *federation.RemoteError
	if err := forger.Request(ctx, a, "PUT", "/_matrix/federation/v1/send/txn2", txn, nil); !errors.As(err, &re) || re.Status != 401 {
		t.Errorf("forged request: %v, want 401", err)
	}

	// A hearth with the SSRF guard on cannot fetch c's key from a loopback
	// address, so c's request is refused there.
	guarded := startServe(t, ca, "127.0.0.4", "--federation-allow-private-addresses", "false")
	if err := client.Request(ctx, guarded, "PUT", "/_matrix/federation/v1/send/txn1", txn, nil); !errors.As(err, &re) || re.Status != 401 {
		t.Errorf("request to a guarded server: %v, want 401 (it must not reach 127.0.0.3)", err)
	}

	// a as a notary for b's keys.
	var keys struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	body := map[string]any{"server_keys": map[string]any{b: map[string]any{}}}
	if err := client.Request(ctx, a, "POST", "/_matrix/key/v2/query", body, &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys.ServerKeys) != 1 {
		t.Fatalf("notary answer holds %d responses, want 1", len(keys.ServerKeys))
	}
	var got struct {
		ServerName string                       `json:"server_name"`
		Signatures map[string]map[string]string `json:"signatures"`
	}
	json.Unmarshal(keys.ServerKeys[0], &got)
	if got.ServerName != b || len(got.Signatures[a]) != 1 || len(got.Signatures[b]) != 1 {
		t.Errorf("notary answer for %s: server %q signed by %v", b, got.ServerName, got.Signatures)
	}
	if _, _, err := federation.ParseServerKeys(keys.ServerKeys[0], b, time.Now()); err != nil {
		t.Errorf("b's self-signature: %v", err)
	}
}
