package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

// keyStore is a map-backed core.CrossSigningStore and DeviceKeyReader.
type keyStore struct {
	keys    map[string]core.CrossSigningKeys
	devices map[string]map[string]json.RawMessage
	sigs    []core.KeySignature
}

func (s *keyStore) CrossSigningKeys(ctx context.Context, requester string, userIDs []string) (map[string]core.CrossSigningKeys, error) {
	return nil, errors.New("not used")
}

func (s *keyStore) StoredCrossSigningKeys(ctx context.Context, userID string) (core.CrossSigningKeys, error) {
	return s.keys[userID], nil
}

func (s *keyStore) UploadCrossSigningKeys(ctx context.Context, userID string, keys core.CrossSigningKeys) error {
	k := s.keys[userID]
	if keys.Master != nil {
		k.Master = keys.Master
	}
	if keys.SelfSigning != nil {
		k.SelfSigning = keys.SelfSigning
	}
	if keys.UserSigning != nil {
		k.UserSigning = keys.UserSigning
	}
	s.keys[userID] = k
	return nil
}

func (s *keyStore) AddSignatures(ctx context.Context, sigs []core.KeySignature) error {
	s.sigs = append(s.sigs, sigs...)
	return nil
}

func (s *keyStore) QueryDeviceKeys(ctx context.Context, requester string, query map[string][]string) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	for u := range query {
		out[u] = s.devices[u]
	}
	return out, nil
}

const (
	alice = "@alice:example.org"
	bob   = "@bob:example.org"
)

// newKey returns an ed25519 key whose key ID is its public key.
func newKey(t *testing.T) signing.Key {
	t.Helper()
	k, err := signing.GenerateKey("x")
	if err != nil {
		t.Fatal(err)
	}
	k.ID = "ed25519:" + k.PublicBase64()
	return k
}

// csKey is user's cross-signing key k for usage, signed by signer when set.
func csKey(t *testing.T, user, usage string, k signing.Key, signer *signing.Key) json.RawMessage {
	t.Helper()
	js := fmt.Appendf(nil, `{"user_id":%q,"usage":[%q],"keys":{%q:%q}}`, user, usage, k.ID, k.PublicBase64())
	if signer != nil {
		var err error
		if js, err = signing.SignJSON(js, user, signer.ID, signer.Private); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != code {
		t.Errorf("%s: error %v, want %s", what, err, code)
	}
}

func TestKeyUpload(t *testing.T) {
	ctx := context.Background()
	store := &keyStore{keys: map[string]core.CrossSigningKeys{}, devices: map[string]map[string]json.RawMessage{}}
	cs, err := NewCrossSigning("example.org", store, store)
	if err != nil {
		t.Fatal(err)
	}
	master, ssk, usk := newKey(t), newKey(t), newKey(t)
	mk := csKey(t, alice, core.CrossSigningMaster, master, nil)
	sk := csKey(t, alice, core.CrossSigningSelfSigning, ssk, &master)
	uk := csKey(t, alice, core.CrossSigningUserSigning, usk, &master)

	// Malformed or foreign keys are refused before anything else.
	for _, tt := range []struct {
		what   string
		master json.RawMessage
		code   string
	}{
		{"not an object", json.RawMessage(`[1]`), "M_BAD_JSON"},
		{"no usage", json.RawMessage(`{"user_id":"` + alice + `","keys":{}}`), "M_BAD_JSON"},
		{"someone else's", csKey(t, bob, core.CrossSigningMaster, master, nil), "M_INVALID_PARAM"},
		{"wrong usage", csKey(t, alice, core.CrossSigningSelfSigning, master, nil), "M_INVALID_PARAM"},
		{"key ID not the key", json.RawMessage(`{"user_id":"` + alice + `","usage":["master"],"keys":{"ed25519:a":"` + master.PublicBase64() + `"}}`), "M_INVALID_PARAM"},
	} {
		_, err := cs.CheckUpload(ctx, alice, tt.master, nil, nil)
		wantCode(t, tt.what, err, tt.code)
	}

	// A first upload needs no authentication.
	u, err := cs.CheckUpload(ctx, alice, mk, sk, uk)
	if err != nil || u.NeedsAuth || u.Unchanged {
		t.Fatalf("first upload: %+v, %v", u, err)
	}
	if err := cs.Upload(ctx, u); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	if got := store.keys[alice]; string(got.Master) != string(mk) || string(got.SelfSigning) != string(sk) || string(got.UserSigning) != string(uk) {
		t.Errorf("stored keys = %+v", got)
	}
	// The same keys again: unchanged, no authentication.
	if u, err := cs.CheckUpload(ctx, alice, mk, sk, nil); err != nil || !u.Unchanged || u.NeedsAuth {
		t.Errorf("repeated upload: %+v, %v", u, err)
	}
	// A new self-signing key needs authentication and the stored master
	// key's signature.
	ssk2 := newKey(t)
	u, err = cs.CheckUpload(ctx, alice, nil, csKey(t, alice, core.CrossSigningSelfSigning, ssk2, nil), nil)
	if err != nil || !u.NeedsAuth {
		t.Fatalf("new self-signing key: %+v, %v", u, err)
	}
	wantCode(t, "unsigned self-signing key", cs.Upload(ctx, u), "M_INVALID_SIGNATURE")
	sk2 := csKey(t, alice, core.CrossSigningSelfSigning, ssk2, &master)
	if u, err = cs.CheckUpload(ctx, alice, nil, sk2, nil); err != nil {
		t.Fatal(err)
	}
	if err := cs.Upload(ctx, u); err != nil || string(store.keys[alice].SelfSigning) != string(sk2) || string(store.keys[alice].Master) != string(mk) {
		t.Errorf("signed self-signing key: %v, stored %+v", err, store.keys[alice])
	}

	// No master key at all.
	u, err = cs.CheckUpload(ctx, bob, nil, csKey(t, bob, core.CrossSigningSelfSigning, newKey(t), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "no master key", cs.Upload(ctx, u), "M_MISSING_PARAM")

	// A key whose public key is one of the user's device IDs.
	clash := newKey(t)
	store.devices[bob] = map[string]json.RawMessage{clash.PublicBase64(): json.RawMessage(`{}`)}
	if u, err = cs.CheckUpload(ctx, bob, csKey(t, bob, core.CrossSigningMaster, clash, nil), nil, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "key ID in use", cs.Upload(ctx, u), "M_FORBIDDEN")
}

func TestUploadSignatures(t *testing.T) {
	ctx := context.Background()
	store := &keyStore{keys: map[string]core.CrossSigningKeys{}, devices: map[string]map[string]json.RawMessage{}}
	cs, err := NewCrossSigning("example.org", store, store)
	if err != nil {
		t.Fatal(err)
	}
	master, ssk, usk := newKey(t), newKey(t), newKey(t)
	store.keys[alice] = core.CrossSigningKeys{
		Master:      csKey(t, alice, core.CrossSigningMaster, master, nil),
		SelfSigning: csKey(t, alice, core.CrossSigningSelfSigning, ssk, &master),
		UserSigning: csKey(t, alice, core.CrossSigningUserSigning, usk, &master),
	}
	bobMaster := newKey(t)
	store.keys[bob] = core.CrossSigningKeys{Master: csKey(t, bob, core.CrossSigningMaster, bobMaster, nil)}
	device := json.RawMessage(`{"user_id":"` + alice + `","device_id":"DEV","algorithms":["m.olm.v1.curve25519-aes-sha2"],"keys":{"ed25519:DEV":"x"}}`)
	store.devices[alice] = map[string]json.RawMessage{"DEV": device}

	signedDevice, err := signing.SignJSON(device, alice, ssk.ID, ssk.Private)
	if err != nil {
		t.Fatal(err)
	}
	signedBob, err := signing.SignJSON(store.keys[bob].Master, alice, usk.ID, usk.Private)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := signing.SignJSON(device, alice, ssk.ID, newKey(t).Private)
	if err != nil {
		t.Fatal(err)
	}
	failures, err := cs.UploadSignatures(ctx, alice, map[string]map[string]json.RawMessage{
		alice:                  {"DEV": signedDevice, "NOPE": device},
		bob:                    {bobMaster.PublicBase64(): signedBob, "other": signedBob},
		"@carol:elsewhere.org": {"K": device},
		"not a user":           {"K": device},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		alice:                  {"NOPE": "M_NOT_FOUND"},
		bob:                    {"other": "M_NOT_FOUND"},
		"@carol:elsewhere.org": {"K": "M_UNAVAILABLE"},
		"not a user":           {"K": "M_INVALID_PARAM"},
	}
	got := map[string]map[string]string{}
	for u, m := range failures {
		got[u] = map[string]string{}
		for k, e := range m {
			got[u][k] = e.ErrCode
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("failures = %v, want %v", got, want)
	}
	if len(store.sigs) != 2 || store.sigs[0].TargetKeyID != "DEV" || store.sigs[0].SignerKeyID != ssk.ID ||
		store.sigs[1].TargetUserID != bob || store.sigs[1].SignerKeyID != usk.ID {
		t.Errorf("stored signatures = %+v", store.sigs)
	}

	store.sigs = nil
	failures, err = cs.UploadSignatures(ctx, alice, map[string]map[string]json.RawMessage{alice: {"DEV": forged}})
	if err != nil || failures[alice]["DEV"] == nil || failures[alice]["DEV"].ErrCode != "M_INVALID_SIGNATURE" || len(store.sigs) != 0 {
		t.Errorf("forged signature: failures %v, %v, stored %v", failures, err, store.sigs)
	}
}
