package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

func TestKeyRingDirectAndNotary(t *testing.T) {
	ctx := context.Background()
	lb := &loopback{}
	a := newTestNode(t, lb, "a.test")
	notary := newTestNode(t, lb, "notary.test")
	b := newTestNode(t, lb, "b.test", "notary.test")
	lb.add(t, "a.test", a.keys)
	lb.add(t, "notary.test", notary.keys)
	now := time.Now().UnixMilli()

	// The notary learns a's keys directly.
	pub, err := notary.ring.VerifyKey(ctx, "a.test", a.key.ID, now)
	if err != nil || !pub.Equal(a.key.Public()) {
		t.Fatalf("direct fetch: %v", err)
	}
	// a goes away; b still gets a's key, through the notary.
	lb.mu.Lock()
	delete(lb.hosts, "a.test")
	lb.mu.Unlock()
	pub, err = b.ring.VerifyKey(ctx, "a.test", a.key.ID, now)
	if err != nil || !pub.Equal(a.key.Public()) {
		t.Fatalf("through the notary: %v", err)
	}
	// b's own key needs no fetch; an unknown key ID of its own is unknown.
	if pub, err := b.ring.VerifyKey(ctx, "b.test", b.key.ID, now); err != nil || !pub.Equal(b.key.Public()) {
		t.Errorf("own key: %v", err)
	}
	if _, err := b.ring.VerifyKey(ctx, "b.test", "ed25519:zz", now); !errors.Is(err, core.ErrKeyNotFound) {
		t.Errorf("own unknown key: %v", err)
	}
	// A key asked for at a time beyond its (capped) validity is not given.
	if _, err := b.ring.VerifyKey(ctx, "a.test", a.key.ID, time.Now().Add(8*24*time.Hour).UnixMilli()); !errors.Is(err, core.ErrKeyNotFound) {
		t.Errorf("key beyond its validity: %v", err)
	}
	// The notary's answer is signed by the notary and by a.
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := b.client.Request(ctx, "notary.test", "GET", keyQueryPath("a.test"), nil, &resp); err != nil || len(resp.ServerKeys) != 1 {
		t.Fatalf("GET query: %v %d", err, len(resp.ServerKeys))
	}
	if err := signing.VerifyJSON(resp.ServerKeys[0], "notary.test", notary.key.ID, notary.key.Public()); err != nil {
		t.Errorf("notary signature: %v", err)
	}
	if err := signing.VerifyJSON(resp.ServerKeys[0], "a.test", a.key.ID, a.key.Public()); err != nil {
		t.Errorf("origin signature: %v", err)
	}
	// Asking a notary about itself gives its own keys; about an unknown
	// unreachable server, nothing.
	body := map[string]any{"server_keys": map[string]any{"notary.test": map[string]any{}, "nowhere.test": map[string]any{}}}
	if err := b.client.Request(ctx, "notary.test", "POST", "/_matrix/key/v2/query", body, &resp); err != nil || len(resp.ServerKeys) != 1 {
		t.Fatalf("POST query: %v %d", err, len(resp.ServerKeys))
	}
}

func TestKeyRingRefusesForgedNotaryAnswers(t *testing.T) {
	ctx := context.Background()
	lb := &loopback{}
	a := newTestNode(t, lb, "a.test")
	// The notary has a forged copy of a's keys: the right server name, a
	// key of the notary's making, self-signed with it.
	notary := newTestNode(t, lb, "notary.test")
	forged, _ := signing.GenerateKey("k1")
	raw, err := SignedServerKeys("a.test", forged, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, until, err := ParseServerKeys(raw, "a.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	notary.store.StoreRemoteServerKeys(ctx, "a.test", raw, until, keys)
	lb.add(t, "notary.test", notary.keys)
	b := newTestNode(t, lb, "b.test", "notary.test")
	// b gets the forged key (the notary vouches for it), but not a key ID
	// the notary does not have; and a notary whose own signature fails is
	// refused.
	if pub, err := b.ring.VerifyKey(ctx, "a.test", "ed25519:k1", 0); err != nil || pub.Equal(a.key.Public()) {
		t.Fatalf("b.test got %v, %v", pub, err)
	}
	c := newTestNode(t, lb, "c.test", "liar.test")
	liar := newTestNode(t, lb, "liar.test")
	liar.store.StoreRemoteServerKeys(ctx, "a.test", raw, until, keys)
	// The liar signs with a key other than the one it publishes.
	other, _ := signing.GenerateKey("k1")
	pubLiar := liar.key
	lb.add(t, "liar.test", NewKeyServer(KeyServerOptions{ServerName: "liar.test", Key: other, Ring: liar.ring, Store: liar.store}))
	c.store.StoreRemoteServerKeys(ctx, "liar.test", mustSigned(t, "liar.test", pubLiar), time.Now().Add(time.Hour).UnixMilli(),
		[]core.RemoteServerKey{{ServerName: "liar.test", KeyID: pubLiar.ID, Key: pubLiar.Public(), ValidUntilTS: time.Now().Add(time.Hour).UnixMilli()}})
	if _, err := c.ring.VerifyKey(ctx, "a.test", "ed25519:k1", 0); !errors.Is(err, core.ErrKeyNotFound) {
		t.Errorf("a notary answer with a bad notary signature was used: %v", err)
	}
}

func mustSigned(t *testing.T, name string, k signing.Key) []byte {
	t.Helper()
	b, err := SignedServerKeys(name, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseServerKeys(t *testing.T) {
	k, _ := signing.GenerateKey("k1")
	now := time.Now()
	// Signed at now: mustSigned reads the clock again, and a millisecond
	// passing in between moved valid_until_ts.
	good, err := SignedServerKeys("a.test", k, now)
	if err != nil {
		t.Fatal(err)
	}
	keys, until, err := ParseServerKeys(good, "a.test", now)
	if err != nil || len(keys) != 1 || !keys[0].Key.Equal(k.Public()) {
		t.Fatalf("ParseServerKeys: %v %v", keys, err)
	}
	if until != now.Add(KeyValidity).UnixMilli() {
		t.Errorf("valid until %d, want %d", until, now.Add(KeyValidity).UnixMilli())
	}
	// A validity a year away is capped at 7 days.
	far, _ := json.Marshal(ServerKeys{ServerName: "a.test", VerifyKeys: map[string]VerifyKey{k.ID: {Key: k.PublicBase64()}},
		OldVerifyKeys: map[string]OldVerifyKey{"ed25519:old": {Key: k.PublicBase64(), ExpiredTS: 5}}, ValidUntilTS: now.Add(365 * 24 * time.Hour).UnixMilli()})
	far, _ = signing.SignJSON(far, "a.test", k.ID, k.Private)
	keys, until, err = ParseServerKeys(far, "a.test", now)
	if err != nil || until != now.Add(7*24*time.Hour).UnixMilli() || len(keys) != 2 {
		t.Errorf("capped validity: %d keys until %d, %v", len(keys), until, err)
	}
	other, _ := signing.GenerateKey("k1")
	unsigned, _ := json.Marshal(ServerKeys{ServerName: "a.test", VerifyKeys: map[string]VerifyKey{k.ID: {Key: k.PublicBase64()}}, ValidUntilTS: 1})
	badSig, _ := signing.SignJSON(unsigned, "a.test", k.ID, other.Private)
	for name, raw := range map[string][]byte{
		"other server": mustSigned(t, "b.test", k),
		"unsigned":     unsigned,
		"bad sig":      badSig,
		"not JSON":     []byte("{"),
	} {
		if _, _, err := ParseServerKeys(raw, "a.test", now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAllowedAddress(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true}, {"2a00:1450::1", true}, {"93.184.216.34", true},
		{"127.0.0.1", false}, {"127.0.0.2", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"100.64.0.1", false}, {"169.254.169.254", false}, {"224.0.0.1", false}, {"0.0.0.0", false},
		{"255.255.255.255", false}, {"::1", false}, {"fe80::1", false}, {"fc00::1", false}, {"ff02::1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"::", false},
	} {
		if got := AllowedAddress(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("AllowedAddress(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestGuardedDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := guardedDialer(false).DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("dial loopback with the guard: %v, want ErrForbiddenAddress", err)
	}
	c, err := guardedDialer(true).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial loopback with private addresses allowed: %v", err)
	}
	c.Close()
}
