package federation

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

// countingKeyStore counts the reads that reach the store under it.
type countingKeyStore struct {
	*memKeyStore
	reads atomic.Int64
}

func (c *countingKeyStore) RemoteServerKey(ctx context.Context, server, keyID string) (core.RemoteServerKey, error) {
	c.reads.Add(1)
	return c.memKeyStore.RemoteServerKey(ctx, server, keyID)
}

func TestKeyRingMemoryCache(t *testing.T) {
	ctx := context.Background()
	lb := &loopback{}
	a := newTestNode(t, lb, "a.test")
	lb.add(t, "a.test", a.keys)
	store := &countingKeyStore{memKeyStore: newMemKeyStore()}
	bKey, _ := signing.GenerateKey("k1")
	client := &Client{ServerName: "b.test", Key: bKey, Transport: lb}
	ring := NewKeyRing(KeyRingOptions{ServerName: "b.test", Key: bKey, Store: store, Client: client})
	now := time.Now().UnixMilli()

	// a's key is known to b's store but expired an hour ago: asked about
	// a time before that, the stored key serves (and is now in memory).
	past := now - time.Hour.Milliseconds()
	store.memKeyStore.StoreRemoteServerKeys(ctx, "a.test", mustSigned(t, "a.test", a.key), past,
		[]core.RemoteServerKey{{ServerName: "a.test", KeyID: a.key.ID, Key: a.key.Public(), ValidUntilTS: past}})
	if pub, err := ring.VerifyKey(ctx, "a.test", a.key.ID, past-1000); err != nil || !pub.Equal(a.key.Public()) {
		t.Fatalf("key at a time it was valid: %v", err)
	}
	reads := store.reads.Load()
	if _, err := ring.VerifyKey(ctx, "a.test", a.key.ID, past-2000); err != nil {
		t.Fatalf("second check: %v", err)
	}
	if got := store.reads.Load() - reads; got != 0 {
		t.Errorf("a second check of the same key read the store %d times, want 0", got)
	}

	// Asked about now, the key in memory has expired: the ring fetches a's
	// keys again, and the fresh validity replaces the one in memory.
	if pub, err := ring.VerifyKey(ctx, "a.test", a.key.ID, now); err != nil || !pub.Equal(a.key.Public()) {
		t.Fatalf("expired key not refetched: %v", err)
	}
	rk, err := store.memKeyStore.RemoteServerKey(ctx, "a.test", a.key.ID)
	if err != nil || rk.ValidUntilTS <= now {
		t.Fatalf("stored key after the refetch: %+v %v", rk, err)
	}
	reads = store.reads.Load()
	for range 3 {
		if _, err := ring.VerifyKey(ctx, "a.test", a.key.ID, now); err != nil {
			t.Fatalf("check after the refetch: %v", err)
		}
	}
	if got := store.reads.Load() - reads; got != 0 {
		t.Errorf("checks after the refetch read the store %d times, want 0", got)
	}

	// An old key (old_verify_keys) serves before its expired_ts only, from
	// memory too.
	oldKey, _ := signing.GenerateKey("old")
	store.memKeyStore.StoreRemoteServerKeys(ctx, "c.test", mustSigned(t, "c.test", oldKey), 0,
		[]core.RemoteServerKey{{ServerName: "c.test", KeyID: oldKey.ID, Key: oldKey.Public(), ExpiredTS: past}})
	for range 2 {
		if _, err := ring.VerifyKey(ctx, "c.test", oldKey.ID, past-1); err != nil {
			t.Errorf("old key before it expired: %v", err)
		}
	}
	if _, err := ring.VerifyKey(ctx, "c.test", oldKey.ID, past); !errors.Is(err, core.ErrKeyNotFound) {
		t.Errorf("old key at its expired_ts: %v, want ErrKeyNotFound", err)
	}
}

func TestKeyRingMemoryIsBounded(t *testing.T) {
	ring := NewKeyRing(KeyRingOptions{ServerName: "b.test", Store: newMemKeyStore()})
	for i := range maxMemKeys + 100 {
		ring.remember(memKeyID{fmt.Sprintf("s%d.test", i), "ed25519:k"}, core.RemoteServerKey{})
	}
	if n := len(ring.mem); n != maxMemKeys {
		t.Errorf("%d keys in memory, want %d", n, maxMemKeys)
	}
	ring.forget("s4195.test")
	if _, ok := ring.mem[memKeyID{"s4195.test", "ed25519:k"}]; ok {
		t.Error("forget left the server's key in memory")
	}
}
