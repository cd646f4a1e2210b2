package storage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"hearth.dev/hearth/core"
)

func TestRemoteServerKeys(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	s := NewRemoteServerKeyStore(db)
	if _, err := s.RemoteServerKey(ctx, "remote.example", "ed25519:a"); !errors.Is(err, core.ErrKeyNotFound) {
		t.Fatalf("unknown key: %v, want ErrKeyNotFound", err)
	}
	if _, _, err := s.RemoteServerKeysJSON(ctx, "remote.example"); !errors.Is(err, core.ErrKeyNotFound) {
		t.Fatalf("unknown response: %v, want ErrKeyNotFound", err)
	}
	pubA, _, _ := ed25519.GenerateKey(nil)
	pubB, _, _ := ed25519.GenerateKey(nil)
	if err := s.StoreRemoteServerKeys(ctx, "remote.example", []byte(`{"v":1}`), 2000, []core.RemoteServerKey{
		{KeyID: "ed25519:a", Key: pubA, ValidUntilTS: 2000},
	}); err != nil {
		t.Fatal(err)
	}
	// The key rotates: a becomes old, b current.
	if err := s.StoreRemoteServerKeys(ctx, "remote.example", []byte(`{"v":2}`), 5000, []core.RemoteServerKey{
		{KeyID: "ed25519:b", Key: pubB, ValidUntilTS: 5000},
		{KeyID: "ed25519:a", Key: pubA, ExpiredTS: 2500},
	}); err != nil {
		t.Fatal(err)
	}
	// An older response (a notary's stale copy) does not replace it.
	if err := s.StoreRemoteServerKeys(ctx, "remote.example", []byte(`{"v":0}`), 1000, []core.RemoteServerKey{
		{KeyID: "ed25519:a", Key: pubA, ValidUntilTS: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	a, err := s.RemoteServerKey(ctx, "remote.example", "ed25519:a")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Key.Equal(pubA) || a.ValidUntilTS != 2000 || a.ExpiredTS != 2500 {
		t.Errorf("key a = valid until %d expired %d, want 2000 and 2500", a.ValidUntilTS, a.ExpiredTS)
	}
	b, err := s.RemoteServerKey(ctx, "remote.example", "ed25519:b")
	if err != nil || !b.Key.Equal(pubB) || b.ValidUntilTS != 5000 || b.ExpiredTS != 0 {
		t.Errorf("key b = %+v, %v", b, err)
	}
	js, until, err := s.RemoteServerKeysJSON(ctx, "remote.example")
	if err != nil || !bytes.Equal(js, []byte(`{"v":2}`)) || until != 5000 {
		t.Errorf("response = %s until %d, %v; want v2 until 5000", js, until, err)
	}
}

func TestFederationTxnResponses(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	s := NewFederationTxnStore(db)
	if _, err := s.FederationTxnResponse(ctx, "a.example", "t1"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("unknown transaction: %v, want ErrNotFound", err)
	}
	if err := s.StoreFederationTxnResponse(ctx, "a.example", "t1", []byte(`{"pdus":{}}`)); err != nil {
		t.Fatal(err)
	}
	// A second store of the same id keeps the first answer.
	if err := s.StoreFederationTxnResponse(ctx, "a.example", "t1", []byte(`{"other":1}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.FederationTxnResponse(ctx, "a.example", "t1")
	if err != nil || string(got) != `{"pdus":{}}` {
		t.Errorf("answer = %s, %v", got, err)
	}
	// Transaction ids are per origin.
	if _, err := s.FederationTxnResponse(ctx, "b.example", "t1"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another origin's t1: %v, want ErrNotFound", err)
	}
}

// TestFederationTablesMigrateFromVersion1 opens a database made at schema
// version 1 with the current code: the federation deltas apply.
func TestFederationTablesMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	old := &SchemaTree{FS: hearthSchema.FS, Version: 1, CompatVersion: 1}
	db, err := openWith(ctx, o, old)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := NewFederationTxnStore(db).StoreFederationTxnResponse(ctx, "a.example", "t1", []byte(`{}`)); err != nil {
		t.Fatalf("after migration: %v", err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if err := NewRemoteServerKeyStore(db).StoreRemoteServerKeys(ctx, "a.example", []byte(`{}`), 1, []core.RemoteServerKey{{KeyID: "ed25519:a", Key: pub, ValidUntilTS: 1}}); err != nil {
		t.Fatalf("after migration: %v", err)
	}
}
