package web

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/signing"
)

// crossSigning is a user's three cross-signing key pairs.
type crossSigning struct {
	master, self, user ed25519.PrivateKey
}

func newCrossSigning() *crossSigning {
	gen := func() ed25519.PrivateKey {
		_, priv, _ := ed25519.GenerateKey(nil)
		return priv
	}
	return &crossSigning{master: gen(), self: gen(), user: gen()}
}

func pubB64(k ed25519.PrivateKey) string {
	return signing.EncodeBase64(k.Public().(ed25519.PublicKey))
}

// key builds the CrossSigningKey object of k for userID, signed by signer
// (nil: unsigned).
func csKey(t *testing.T, userID, usage string, k, signer ed25519.PrivateKey) map[string]any {
	t.Helper()
	obj := map[string]any{
		"user_id": userID,
		"usage":   []string{usage},
		"keys":    map[string]string{"ed25519:" + pubB64(k): pubB64(k)},
	}
	if signer == nil {
		return obj
	}
	return signObject(t, obj, userID, "ed25519:"+pubB64(signer), signer)
}

// uploadBody is the body of /keys/device_signing/upload for cs.
func (cs *crossSigning) uploadBody(t *testing.T, userID string) map[string]any {
	return map[string]any{
		"master_key":       csKey(t, userID, "master", cs.master, nil),
		"self_signing_key": csKey(t, userID, "self_signing", cs.self, cs.master),
		"user_signing_key": csKey(t, userID, "user_signing", cs.user, cs.master),
	}
}

func TestDeviceSigningUpload(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	bob := e.user(t, "bob", "BDEV", "")
	cs := newCrossSigning()
	other := newCrossSigning()

	bad := cs.uploadBody(t, alice.id)
	bad["self_signing_key"] = csKey(t, alice.id, "self_signing", cs.self, other.master)
	wrongUser := cs.uploadBody(t, alice.id)
	wrongUser["master_key"] = csKey(t, bob.id, "master", cs.master, nil)
	wrongUsage := cs.uploadBody(t, alice.id)
	wrongUsage["master_key"] = csKey(t, alice.id, "self_signing", cs.master, nil)
	twoKeys := cs.uploadBody(t, alice.id)
	twoKeys["master_key"] = map[string]any{"user_id": alice.id, "usage": []string{"master"},
		"keys": map[string]string{"ed25519:a": "a", "ed25519:b": "b"}}
	// A key whose public key is one of the user's device IDs.
	clashKey := newCrossSigning()
	clash := e.user(t, "alice", pubB64(clashKey.master), "")
	e.mustCall(t, clash, "POST", "/keys/upload", map[string]any{"device_keys": clash.signedDeviceKeys(t)}, 200, nil)

	tests := []struct {
		name     string
		body     any
		wantCode int
		wantErr  string
	}{
		{"not JSON", "[", 400, "M_NOT_JSON"},
		{"self-signing key without master", map[string]any{"self_signing_key": csKey(t, alice.id, "self_signing", cs.self, cs.master)}, 400, "M_MISSING_PARAM"},
		{"bad self-signing signature", bad, 400, "M_INVALID_SIGNATURE"},
		{"another user's key", wrongUser, 400, "M_INVALID_PARAM"},
		{"wrong usage", wrongUsage, 400, "M_INVALID_PARAM"},
		{"two keys", twoKeys, 400, "M_INVALID_PARAM"},
		{"key ID in use", map[string]any{"master_key": csKey(t, alice.id, "master", clashKey.master, nil)}, 403, "M_FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.call(t, alice, "POST", "/keys/device_signing/upload", tt.body)
			if code != tt.wantCode || errcodeOf(b) != tt.wantErr {
				t.Errorf("upload = %d %s, want %d %s", code, b, tt.wantCode, tt.wantErr)
			}
		})
	}

	// The first upload needs no UIA; repeating it neither.
	for range 2 {
		b := e.mustCall(t, alice, "POST", "/keys/device_signing/upload", cs.uploadBody(t, alice.id), 200, nil)
		specSchemas.checkResponse(t, "cross_signing.yaml", "POST", "/keys/device_signing/upload", 200, b)
	}

	type queryResp struct {
		Master      map[string]json.RawMessage `json:"master_keys"`
		SelfSigning map[string]json.RawMessage `json:"self_signing_keys"`
		UserSigning map[string]json.RawMessage `json:"user_signing_keys"`
	}
	query := map[string]any{"device_keys": map[string]any{alice.id: []string{}}}
	var mine, theirs queryResp
	b := e.mustCall(t, alice, "POST", "/keys/query", query, 200, &mine)
	specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/query", 200, b)
	b = e.mustCall(t, bob, "POST", "/keys/query", query, 200, &theirs)
	specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/query", 200, b)
	if mine.Master[alice.id] == nil || mine.SelfSigning[alice.id] == nil || mine.UserSigning[alice.id] == nil {
		t.Errorf("Alice's own query = %+v, want her three keys", mine)
	}
	if theirs.Master[alice.id] == nil || theirs.SelfSigning[alice.id] == nil || theirs.UserSigning[alice.id] != nil {
		t.Errorf("Bob's query of Alice = %+v, want her master and self-signing keys only", theirs)
	}

	// Replacing the keys needs UIA with the password.
	next := newCrossSigning()
	code, b := e.call(t, alice, "POST", "/keys/device_signing/upload", next.uploadBody(t, alice.id))
	var challenge struct {
		Flows []struct {
			Stages []string `json:"stages"`
		} `json:"flows"`
		Session string `json:"session"`
	}
	if code != 401 || json.Unmarshal(b, &challenge) != nil || challenge.Session == "" ||
		len(challenge.Flows) != 1 || !cmp.Equal(challenge.Flows[0].Stages, []string{"m.login.password"}) {
		t.Fatalf("replacing keys without auth = %d %s, want 401 with the m.login.password flow", code, b)
	}
	// Only the self-signing key, new: UIA too.
	onlySSK := map[string]any{"self_signing_key": csKey(t, alice.id, "self_signing", next.self, cs.master)}
	if code, b := e.call(t, alice, "POST", "/keys/device_signing/upload", onlySSK); code != 401 {
		t.Errorf("a new self-signing key without auth = %d %s, want 401", code, b)
	}
	withAuth := next.uploadBody(t, alice.id)
	withAuth["auth"] = map[string]any{"type": "m.login.password", "session": challenge.Session, "password": "wrong",
		"identifier": map[string]any{"type": "m.id.user", "user": alice.id}}
	if code, b := e.call(t, alice, "POST", "/keys/device_signing/upload", withAuth); code != 401 || errcodeOf(b) != "M_FORBIDDEN" {
		t.Errorf("a wrong password = %d %s, want 401 M_FORBIDDEN", code, b)
	}
	withAuth["auth"].(map[string]any)["password"] = testPassword
	e.mustCall(t, alice, "POST", "/keys/device_signing/upload", withAuth, 200, nil)
	e.mustCall(t, bob, "POST", "/keys/query", query, 200, &theirs)
	if !sameKeyJSON(theirs.Master[alice.id], mustJSON(t, csKey(t, alice.id, "master", next.master, nil))) {
		t.Errorf("master key after the replacement = %s, want the new one", theirs.Master[alice.id])
	}
}

// sameKeyJSON reports whether two JSON values are equal whatever their
// spacing and member order.
func sameKeyJSON(a, b []byte) bool {
	ca, errA := canonicaljson.Canonicalize(a, canonicaljson.Lenient)
	cb, errB := canonicaljson.Canonicalize(b, canonicaljson.Lenient)
	return errA == nil && errB == nil && bytes.Equal(ca, cb)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignaturesUpload(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	bob := e.user(t, "bob", "BDEV", "")
	aliceCS, bobCS := newCrossSigning(), newCrossSigning()
	for _, u := range []struct {
		u  *e2eeUser
		cs *crossSigning
	}{{alice, aliceCS}, {bob, bobCS}} {
		e.mustCall(t, u.u, "POST", "/keys/upload", map[string]any{"device_keys": u.u.signedDeviceKeys(t)}, 200, nil)
		e.mustCall(t, u.u, "POST", "/keys/device_signing/upload", u.cs.uploadBody(t, u.u.id), 200, nil)
	}
	aliceMSK, bobMSK := pubB64(aliceCS.master), pubB64(bobCS.master)

	// Alice's self-signing key signs her device; her device signs her
	// master key; her user-signing key signs Bob's master key.
	devSigned := signObject(t, alice.signedDeviceKeys(t), alice.id, "ed25519:"+pubB64(aliceCS.self), aliceCS.self)
	masterSigned := signObject(t, csKey(t, alice.id, "master", aliceCS.master, nil), alice.id, "ed25519:ADEV", alice.devKey)
	bobSigned := signObject(t, csKey(t, bob.id, "master", bobCS.master, nil), alice.id, "ed25519:"+pubB64(aliceCS.user), aliceCS.user)
	// Failures: a forged signature, an object that is not the stored key,
	// an unknown key, a remote user.
	forged := signObject(t, alice.signedDeviceKeys(t), alice.id, "ed25519:"+pubB64(aliceCS.self), bobCS.self)
	changedObj := csKey(t, bob.id, "master", bobCS.master, nil)
	changedObj["usage"] = []string{"master", "extra"}
	changedObj = signObject(t, changedObj, alice.id, "ed25519:"+pubB64(aliceCS.user), aliceCS.user)

	body := map[string]any{
		alice.id: map[string]any{"ADEV": devSigned, aliceMSK: masterSigned, "NOSUCHKEY": map[string]any{}},
		bob.id:   map[string]any{bobMSK: bobSigned},
	}
	var resp struct {
		Failures map[string]map[string]struct {
			ErrCode string `json:"errcode"`
		} `json:"failures"`
	}
	b := e.mustCall(t, alice, "POST", "/keys/signatures/upload", body, 200, &resp)
	specSchemas.checkResponse(t, "cross_signing.yaml", "POST", "/keys/signatures/upload", 200, b)
	if len(resp.Failures[alice.id]) != 1 || resp.Failures[alice.id]["NOSUCHKEY"].ErrCode != "M_NOT_FOUND" || len(resp.Failures) != 1 {
		t.Errorf("failures = %s, want only NOSUCHKEY not found", b)
	}

	resp.Failures = nil
	b = e.mustCall(t, alice, "POST", "/keys/signatures/upload", map[string]any{
		alice.id:                map[string]any{"ADEV": forged},
		bob.id:                  map[string]any{bobMSK: changedObj},
		"@carol:remote.example": map[string]any{"X": map[string]any{}},
	}, 200, &resp)
	specSchemas.checkResponse(t, "cross_signing.yaml", "POST", "/keys/signatures/upload", 200, b)
	wantFail := map[string]string{alice.id + " ADEV": "M_INVALID_SIGNATURE", bob.id + " " + bobMSK: "M_INVALID_PARAM", "@carol:remote.example X": "M_UNAVAILABLE"}
	gotFail := map[string]string{}
	for u, ks := range resp.Failures {
		for k, f := range ks {
			gotFail[u+" "+k] = f.ErrCode
		}
	}
	if diff := cmp.Diff(wantFail, gotFail); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}

	type sigs = map[string]map[string]string
	sigsOf := func(raw json.RawMessage) sigs {
		var k struct {
			Signatures sigs `json:"signatures"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return k.Signatures
	}
	type queryResp struct {
		DeviceKeys map[string]map[string]json.RawMessage `json:"device_keys"`
		Master     map[string]json.RawMessage            `json:"master_keys"`
	}
	query := map[string]any{"device_keys": map[string]any{alice.id: []string{}, bob.id: []string{}}}
	var byBob, byAlice queryResp
	b = e.mustCall(t, bob, "POST", "/keys/query", query, 200, &byBob)
	specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/query", 200, b)
	e.mustCall(t, alice, "POST", "/keys/query", query, 200, &byAlice)

	// Everyone sees Alice's self-signing signature on her device and her
	// device's signature on her master key.
	if got := sigsOf(byBob.DeviceKeys[alice.id]["ADEV"])[alice.id]["ed25519:"+pubB64(aliceCS.self)]; got == "" {
		t.Errorf("Bob does not see Alice's self-signing signature on ADEV: %s", byBob.DeviceKeys[alice.id]["ADEV"])
	}
	if got := sigsOf(byBob.Master[alice.id])[alice.id]["ed25519:ADEV"]; got == "" {
		t.Errorf("Bob does not see ADEV's signature on Alice's master key: %s", byBob.Master[alice.id])
	}
	// Only Alice sees her user-signing signature on Bob's master key.
	if got := sigsOf(byAlice.Master[bob.id])[alice.id]["ed25519:"+pubB64(aliceCS.user)]; got == "" {
		t.Errorf("Alice does not see her signature on Bob's master key: %s", byAlice.Master[bob.id])
	}
	if got := sigsOf(byBob.Master[bob.id])[alice.id]; got != nil {
		t.Errorf("Bob sees Alice's user-signing signatures on his key: %v", got)
	}
	// The signatures verify.
	if err := signing.VerifyJSON(byBob.DeviceKeys[alice.id]["ADEV"], alice.id, "ed25519:"+pubB64(aliceCS.self),
		aliceCS.self.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("the self-signing signature served does not verify: %v", err)
	}
}
