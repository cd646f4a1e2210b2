package storage

import (
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
)

func TestServerSigningKeyMadeOnceAndKept(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent first calls agree on one key.
	keys := make([]string, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := db.ServerSigningKey(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k.ID + " " + k.PublicBase64()
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("concurrent ServerSigningKey gave %q and %q", keys[0], k)
		}
	}
	k1, err := db.ServerSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpenWith(t, o)
	k2, err := db.ServerSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID != k2.ID || !k1.Public().Equal(k2.Public()) {
		t.Fatalf("after reopening: key %s %s, want %s %s", k2.ID, k2.PublicBase64(), k1.ID, k1.PublicBase64())
	}
	msg := []byte("hearth")
	if !ed25519.Verify(k1.Public(), msg, ed25519.Sign(k2.Private, msg)) {
		t.Fatal("the reopened private key does not match the public key")
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM server_keys").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("server_keys holds %d keys, want 1", n)
	}
}
