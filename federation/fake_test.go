package federation

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

// memKeyStore is an in-memory core.ServerKeyStore for the federation
// package's tests (the root's tests use the SQLite store).
type memKeyStore struct {
	mu   sync.Mutex
	keys map[[2]string]core.RemoteServerKey
	json map[string][]byte
	till map[string]int64
}

func newMemKeyStore() *memKeyStore {
	return &memKeyStore{keys: map[[2]string]core.RemoteServerKey{}, json: map[string][]byte{}, till: map[string]int64{}}
}

func (m *memKeyStore) RemoteServerKey(ctx context.Context, server, keyID string) (core.RemoteServerKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[[2]string{server, keyID}]
	if !ok {
		return k, fmt.Errorf("%s %s: %w", server, keyID, core.ErrKeyNotFound)
	}
	return k, nil
}

func (m *memKeyStore) StoreRemoteServerKeys(ctx context.Context, server string, keyJSON []byte, until int64, keys []core.RemoteServerKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		m.keys[[2]string{server, k.KeyID}] = k
	}
	if until >= m.till[server] {
		m.json[server], m.till[server] = keyJSON, until
	}
	return nil
}

func (m *memKeyStore) RemoteServerKeysJSON(ctx context.Context, server string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.json[server]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", server, core.ErrKeyNotFound)
	}
	return b, m.till[server], nil
}

// memTxnStore is an in-memory core.FederationTxnStore.
type memTxnStore struct {
	mu sync.Mutex
	m  map[[2]string][]byte
}

func (s *memTxnStore) FederationTxnResponse(ctx context.Context, origin, txnID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[[2]string{origin, txnID}]
	if !ok {
		return nil, core.ErrNotFound
	}
	return b, nil
}

func (s *memTxnStore) StoreFederationTxnResponse(ctx context.Context, origin, txnID string, resp []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[2]string][]byte{}
	}
	s.m[[2]string{origin, txnID}] = resp
	return nil
}

// loopback is a federation RoundTripper for tests: it sends requests for
// a server name over real HTTP to the test server registered for it.
type loopback struct {
	mu    sync.Mutex
	hosts map[string]string // server name → http://127.0.0.1:port
}

func (l *loopback) add(t *testing.T, name string, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hosts == nil {
		l.hosts = map[string]string{}
	}
	l.hosts[name] = srv.URL
}

func (l *loopback) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	base, ok := l.hosts[req.URL.Host]
	l.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("loopback: %s is unreachable", req.URL.Host)
	}
	u, _ := url.Parse(base)
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, req.URL.Host
	return http.DefaultTransport.RoundTrip(r)
}

// testNode is one fake server: its key, a key ring and a client over the
// shared loopback.
type testNode struct {
	name   string
	key    signing.Key
	store  *memKeyStore
	ring   *KeyRing
	client *Client
	keys   *KeyServer
}

func newTestNode(t *testing.T, lb *loopback, name string, notaries ...string) *testNode {
	t.Helper()
	key, err := signing.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, key: key, store: newMemKeyStore()}
	n.client = &Client{ServerName: name, Key: key, Transport: lb}
	n.ring = NewKeyRing(KeyRingOptions{ServerName: name, Key: key, Store: n.store, Client: n.client, Notaries: notaries})
	n.keys = NewKeyServer(KeyServerOptions{ServerName: name, Key: key, Ring: n.ring, Store: n.store})
	return n
}
