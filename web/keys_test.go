package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/storage"
)

// e2eeServer is a whole Server (newTestServer's) with the stores the end-to-end
// encryption endpoints use.
type e2eeServer struct {
	srv      *Server
	net      *loopback
	accounts *storage.AccountStore
	keys     *storage.KeyStore
	toDevice *storage.ToDeviceStore
	notifier *core.Notifier
}

func newE2EEServer(t testing.TB) *e2eeServer {
	t.Helper()
	e := &e2eeServer{}
	ts := newTestServer(t)
	e.keys, e.toDevice, e.notifier = ts.Graph.Keys, ts.Graph.ToDevice, ts.Graph.Notifier
	e.srv, e.accounts, e.net = ts.Server, ts.Accounts, ts.net
	return e
}

// e2eeUser is a logged-in device.
type e2eeUser struct {
	id, device, token string
	// devKey is the device's ed25519 key.
	devKey ed25519.PrivateKey
}

// user creates an account (password testPassword) if needed and logs a
// device in.
func (e *e2eeServer) user(t testing.TB, localpart, deviceID, displayName string) *e2eeUser {
	t.Helper()
	ctx := context.Background()
	userID := "@" + localpart + ":" + testServerName
	if _, err := e.accounts.Account(ctx, userID); err != nil {
		if _, err := e.accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: testPassword}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := e.accounts.IssueTokens(ctx, core.NewLogin{UserID: userID, DeviceID: deviceID, DeviceDisplayName: displayName})
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	return &e2eeUser{id: userID, device: tok.DeviceID, token: tok.AccessToken, devKey: priv}
}

// call sends a request to /_matrix/client/v3+path as u (nil: no token)
// and returns the status and body. body may be a string (sent as is) or
// any value (sent as JSON).
func (e *e2eeServer) call(t testing.TB, u *e2eeUser, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, "/_matrix/client/v3"+path, rd)
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	rec := e.net.do(t, req)
	return rec.Code, rec.Body.Bytes()
}

// mustCall is call that fails unless the status is want, and decodes the
// body into out (when non-nil).
func (e *e2eeServer) mustCall(t testing.TB, u *e2eeUser, method, path string, body any, want int, out any) []byte {
	t.Helper()
	code, b := e.call(t, u, method, path, body)
	if code != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

// errcodeOf returns the errcode of a Matrix error body.
func errcodeOf(b []byte) string {
	var e struct {
		ErrCode string `json:"errcode"`
	}
	json.Unmarshal(b, &e)
	return e.ErrCode
}

// signedDeviceKeys builds u's device_keys, signed by its device key.
func (u *e2eeUser) signedDeviceKeys(t *testing.T) map[string]any {
	t.Helper()
	pub := signing.EncodeBase64(u.devKey.Public().(ed25519.PublicKey))
	obj := map[string]any{
		"user_id":    u.id,
		"device_id":  u.device,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]string{
			"curve25519:" + u.device: "curve-" + u.device,
			"ed25519:" + u.device:    pub,
		},
	}
	return signObject(t, obj, u.id, "ed25519:"+u.device, u.devKey)
}

// signObject signs obj as signer with key keyID.
func signObject(t *testing.T, obj map[string]any, signer, keyID string, priv ed25519.PrivateKey) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signing.SignJSON(raw, signer, keyID, priv)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(signed, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKeysUploadErrors(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	good := alice.signedDeviceKeys(t)
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return map[string]any{"device_keys": m}
	}
	tests := []struct {
		name     string
		user     *e2eeUser
		body     any
		wantCode int
		wantErr  string
	}{
		{"no token", nil, map[string]any{}, 401, "M_MISSING_TOKEN"},
		{"not JSON", alice, "{nope", 400, "M_NOT_JSON"},
		{"wrong type", alice, `{"one_time_keys":[]}`, 400, "M_BAD_JSON"},
		{"another user's keys", alice, with("user_id", "@mallory:example.org"), 400, "M_INVALID_PARAM"},
		{"another device's keys", alice, with("device_id", "OTHER"), 400, "M_INVALID_PARAM"},
		{"no user_id", alice, with("user_id", nil), 400, "M_BAD_JSON"},
		{"no signatures", alice, with("signatures", nil), 400, "M_BAD_JSON"},
		{"no ed25519 key of the device", alice, with("keys", map[string]string{"curve25519:ADEV": "c"}), 400, "M_INVALID_PARAM"},
		{"one-time key of a bad shape", alice, `{"one_time_keys":{"signed_curve25519:A":{"nokey":1}}}`, 400, "M_BAD_JSON"},
		{"one-time key number", alice, `{"one_time_keys":{"signed_curve25519:A":5}}`, 400, "M_BAD_JSON"},
		{"one-time key null", alice, `{"one_time_keys":{"signed_curve25519:A":null}}`, 400, "M_BAD_JSON"},
		{"one-time key name", alice, `{"one_time_keys":{"nocolon":"k"}}`, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.call(t, tt.user, "POST", "/keys/upload", tt.body)
			if code != tt.wantCode || errcodeOf(b) != tt.wantErr {
				t.Errorf("POST /keys/upload = %d %s, want %d %s", code, b, tt.wantCode, tt.wantErr)
			}
		})
	}
	// Nothing was stored by the failed uploads.
	var q struct {
		DeviceKeys map[string]map[string]any `json:"device_keys"`
	}
	e.mustCall(t, alice, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{alice.id: []string{}}}, 200, &q)
	if len(q.DeviceKeys[alice.id]) != 0 {
		t.Errorf("keys stored by failed uploads: %v", q.DeviceKeys)
	}
}

func TestKeysUploadQueryClaim(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "Alice's phone")
	bob := e.user(t, "bob", "BDEV", "")

	changed := e.notifier.Changed()
	upload := map[string]any{
		"device_keys": alice.signedDeviceKeys(t),
		"one_time_keys": map[string]any{
			"signed_curve25519:AAAAHQ": map[string]any{"key": "otk1", "signatures": map[string]any{alice.id: map[string]string{"ed25519:ADEV": "s"}}},
			"signed_curve25519:AAAAHg": map[string]any{"key": "otk2", "signatures": map[string]any{alice.id: map[string]string{"ed25519:ADEV": "s"}}},
		},
		"fallback_keys": map[string]any{
			"signed_curve25519:AAAAGj": map[string]any{"key": "fb", "fallback": true, "signatures": map[string]any{alice.id: map[string]string{"ed25519:ADEV": "s"}}},
		},
	}
	var up struct {
		Counts map[string]int `json:"one_time_key_counts"`
	}
	b := e.mustCall(t, alice, "POST", "/keys/upload", upload, 200, &up)
	specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/upload", 200, b)
	if diff := cmp.Diff(map[string]int{"signed_curve25519": 2}, up.Counts); diff != "" {
		t.Errorf("one_time_key_counts (-want +got):\n%s", diff)
	}
	select {
	case <-changed:
	default:
		t.Errorf("an upload did not wake /sync")
	}
	e.checkSyncKeyCounts(t, alice, map[string]int{"signed_curve25519": 2}, []string{"signed_curve25519"})
	// An empty upload reports the counts (signed_curve25519 always).
	var empty struct {
		Counts map[string]int `json:"one_time_key_counts"`
	}
	e.mustCall(t, bob, "POST", "/keys/upload", map[string]any{}, 200, &empty)
	if diff := cmp.Diff(map[string]int{"signed_curve25519": 0}, empty.Counts); diff != "" {
		t.Errorf("counts of a device without keys (-want +got):\n%s", diff)
	}

	// Bob queries Alice (all devices), a local user without keys, and a
	// remote user.
	query := map[string]any{"device_keys": map[string]any{
		alice.id:                []string{},
		"@nobody:example.org":   []string{},
		"@carol:remote.example": []string{},
	}}
	var q struct {
		DeviceKeys map[string]map[string]struct {
			UserID   string            `json:"user_id"`
			DeviceID string            `json:"device_id"`
			Keys     map[string]string `json:"keys"`
			Unsigned struct {
				Name string `json:"device_display_name"`
			} `json:"unsigned"`
		} `json:"device_keys"`
		Failures map[string]any `json:"failures"`
	}
	b = e.mustCall(t, bob, "POST", "/keys/query", query, 200, &q)
	specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/query", 200, b)
	dev, ok := q.DeviceKeys[alice.id]["ADEV"]
	if !ok || dev.UserID != alice.id || dev.DeviceID != "ADEV" || dev.Unsigned.Name != "Alice's phone" {
		t.Errorf("Alice's device in /keys/query = %+v (present %v), want her keys with device_display_name", dev, ok)
	}
	if _, ok := q.Failures["remote.example"]; !ok || len(q.Failures) != 1 {
		t.Errorf("failures = %v, want remote.example only", q.Failures)
	}
	if devs, ok := q.DeviceKeys["@nobody:example.org"]; !ok || len(devs) != 0 {
		t.Errorf("a local user without devices = %v (present %v), want an empty map", devs, ok)
	}
	if _, ok := q.DeviceKeys["@carol:remote.example"]; ok {
		t.Errorf("a remote user has device_keys")
	}

	// Bob claims three keys: the two one-time keys (in any order, once
	// each), then the fallback key.
	var seen []string
	for i := range 4 {
		var c struct {
			OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
			Failures    map[string]any                                   `json:"failures"`
		}
		b := e.mustCall(t, bob, "POST", "/keys/claim", map[string]any{"one_time_keys": map[string]any{
			alice.id:                map[string]string{"ADEV": "signed_curve25519", "NODEV": "signed_curve25519"},
			"@carol:remote.example": map[string]string{"C": "signed_curve25519"},
		}}, 200, &c)
		specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/claim", 200, b)
		keys := c.OneTimeKeys[alice.id]["ADEV"]
		if len(keys) != 1 || len(c.OneTimeKeys[alice.id]) != 1 {
			t.Fatalf("claim %d = %s, want one key of ADEV", i, b)
		}
		for name := range keys {
			seen = append(seen, name)
		}
		if _, ok := c.Failures["remote.example"]; !ok {
			t.Errorf("claim %d failures = %v, want remote.example", i, c.Failures)
		}
	}
	slices.Sort(seen[:2])
	want := []string{"signed_curve25519:AAAAHQ", "signed_curve25519:AAAAHg", "signed_curve25519:AAAAGj", "signed_curve25519:AAAAGj"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("claimed keys (-want +got):\n%s", diff)
	}
	// What /sync shows Alice's device.
	counts, err := e.keys.OneTimeKeyCounts(context.Background(), alice.id, "ADEV")
	if err != nil || len(counts) != 0 {
		t.Errorf("OneTimeKeyCounts after claims = %v, %v; want none", counts, err)
	}
	if types, _ := e.keys.UnusedFallbackKeyTypes(context.Background(), alice.id, "ADEV"); len(types) != 0 {
		t.Errorf("UnusedFallbackKeyTypes after the fallback key was claimed = %v", types)
	}
	e.checkSyncKeyCounts(t, alice, map[string]int{"signed_curve25519": 0}, []string{})
	// A new fallback key is unused again; one more one-time key is counted.
	e.mustCall(t, alice, "POST", "/keys/upload", map[string]any{
		"one_time_keys": map[string]any{"signed_curve25519:AAAAHz": map[string]any{"key": "otk3", "signatures": map[string]any{alice.id: map[string]string{"ed25519:ADEV": "s"}}}},
		"fallback_keys": map[string]any{"signed_curve25519:AAAAGk": map[string]any{"key": "fb2", "fallback": true, "signatures": map[string]any{alice.id: map[string]string{"ed25519:ADEV": "s"}}}},
	}, 200, nil)
	e.checkSyncKeyCounts(t, alice, map[string]int{"signed_curve25519": 1}, []string{"signed_curve25519"})

	for _, c := range []struct{ path, body string }{{"/keys/query", `{"device_keys":[]}`}, {"/keys/claim", `{"one_time_keys":{"@a:b":"x"}}`}} {
		if code, b := e.call(t, bob, "POST", c.path, c.body); code != 400 || errcodeOf(b) != "M_BAD_JSON" {
			t.Errorf("POST %s with a bad body = %d %s, want 400 M_BAD_JSON", c.path, code, b)
		}
	}
}

// checkSyncKeyCounts checks the one-time key counts and unused fallback
// key types an initial /sync of u's device shows.
func (e *e2eeServer) checkSyncKeyCounts(t *testing.T, u *e2eeUser, counts map[string]int, fallbacks []string) {
	t.Helper()
	var s struct {
		Counts    map[string]int `json:"device_one_time_keys_count"`
		Fallbacks []string       `json:"device_unused_fallback_key_types"`
	}
	e.mustCall(t, u, "GET", "/sync?timeout=0", nil, 200, &s)
	if diff := cmp.Diff(counts, s.Counts); diff != "" {
		t.Errorf("/sync device_one_time_keys_count (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fallbacks, s.Fallbacks); diff != "" {
		t.Errorf("/sync device_unused_fallback_key_types (-want +got):\n%s", diff)
	}
}

func TestKeysChanges(t *testing.T) {
	e := newE2EEServer(t)
	alice := e.user(t, "alice", "ADEV", "")
	ctx := context.Background()
	from, _ := e.keys.DeviceListPosition(ctx)
	e.mustCall(t, alice, "POST", "/keys/upload", map[string]any{"device_keys": alice.signedDeviceKeys(t)}, 200, nil)
	to, _ := e.keys.DeviceListPosition(ctx)

	var got struct {
		Changed []string `json:"changed"`
		Left    []string `json:"left"`
	}
	// from and to are /sync tokens; only their device list position counts.
	tok := func(pos int64) string { return clientsync.Token{Events: 9, DeviceLists: pos}.String() }
	b := e.mustCall(t, alice, "GET", "/keys/changes?from="+tok(from)+"&to="+tok(to), nil, 200, &got)
	specSchemas.checkResponse(t, "keys.yaml", "GET", "/keys/changes", 200, b)
	if !slices.Equal(got.Changed, []string{alice.id}) || got.Left == nil {
		t.Errorf("/keys/changes = %s, want changed [%s] and left []", b, alice.id)
	}
	e.mustCall(t, alice, "GET", "/keys/changes?from="+tok(to)+"&to="+tok(to), nil, 200, &got)
	if len(got.Changed) != 0 {
		t.Errorf("/keys/changes over an empty range = %v", got.Changed)
	}
	for _, tt := range []struct{ query, want string }{
		{"?from=0", "M_MISSING_PARAM"},
		{"?to=0", "M_MISSING_PARAM"},
		{"?from=s1_2&to=1", "M_INVALID_PARAM"},
		{"?from=1&to=2", "M_INVALID_PARAM"},
	} {
		if code, b := e.call(t, alice, "GET", "/keys/changes"+tt.query, nil); code != 400 || errcodeOf(b) != tt.want {
			t.Errorf("GET /keys/changes%s = %d %s, want 400 %s", tt.query, code, b, tt.want)
		}
	}
}

// TestE2EEWithRegisteredUsers runs the key endpoints end to end for users
// who registered and logged in through the API.
func TestE2EEWithRegisteredUsers(t *testing.T) {
	e := newE2EEServer(t)
	register := func(name, deviceName string) *e2eeUser {
		t.Helper()
		body := map[string]any{
			"username": name, "password": testPassword, "initial_device_display_name": deviceName,
			"auth": map[string]any{"type": "m.login.dummy"},
		}
		code, b := e.call(t, nil, "POST", "/register", body)
		if code == 401 {
			var c struct {
				Session string `json:"session"`
			}
			json.Unmarshal(b, &c)
			body["auth"] = map[string]any{"type": "m.login.dummy", "session": c.Session}
			code, b = e.call(t, nil, "POST", "/register", body)
		}
		var reg struct {
			UserID      string `json:"user_id"`
			DeviceID    string `json:"device_id"`
			AccessToken string `json:"access_token"`
		}
		if code != 200 || json.Unmarshal(b, &reg) != nil || reg.AccessToken == "" {
			t.Fatalf("POST /register %s = %d %s", name, code, b)
		}
		_, priv, _ := ed25519.GenerateKey(nil)
		return &e2eeUser{id: reg.UserID, device: reg.DeviceID, token: reg.AccessToken, devKey: priv}
	}
	alice := register("alice", "Alice's laptop")
	bob := register("bob", "Bob's phone")

	// A second device of Alice's, by password login.
	var login struct {
		DeviceID    string `json:"device_id"`
		AccessToken string `json:"access_token"`
	}
	e.mustCall(t, nil, "POST", "/login", map[string]any{
		"type": "m.login.password", "password": testPassword, "initial_device_display_name": "Alice's phone",
		"identifier": map[string]any{"type": "m.id.user", "user": "alice"},
	}, 200, &login)
	_, priv, _ := ed25519.GenerateKey(nil)
	alice2 := &e2eeUser{id: alice.id, device: login.DeviceID, token: login.AccessToken, devKey: priv}

	for _, u := range []*e2eeUser{alice, alice2, bob} {
		e.mustCall(t, u, "POST", "/keys/upload", map[string]any{
			"device_keys": u.signedDeviceKeys(t),
			"one_time_keys": map[string]any{"signed_curve25519:AAAAAQ": signObject(t, map[string]any{"key": "otk-" + u.device},
				u.id, "ed25519:"+u.device, u.devKey)},
		}, 200, nil)
	}

	var q struct {
		DeviceKeys map[string]map[string]json.RawMessage `json:"device_keys"`
	}
	b := e.mustCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{alice.id: []string{}}}, 200, &q)
	specSchemas.checkResponse(t, "keys.yaml", "POST", "/keys/query", 200, b)
	names := map[string]string{}
	for dev, raw := range q.DeviceKeys[alice.id] {
		var k struct {
			Unsigned struct {
				Name string `json:"device_display_name"`
			} `json:"unsigned"`
		}
		json.Unmarshal(raw, &k)
		names[dev] = k.Unsigned.Name
		// The device's own signature still verifies with the key served.
		var keys struct {
			Keys map[string]string `json:"keys"`
		}
		json.Unmarshal(raw, &keys)
		pub, _ := signing.DecodeBase64(keys.Keys["ed25519:"+dev])
		if err := signing.VerifyJSON(raw, alice.id, "ed25519:"+dev, pub); err != nil {
			t.Errorf("device %s as served does not verify: %v", dev, err)
		}
	}
	if diff := cmp.Diff(map[string]string{alice.device: "Alice's laptop", alice2.device: "Alice's phone"}, names); diff != "" {
		t.Errorf("Alice's devices as Bob sees them (-want +got):\n%s", diff)
	}

	// Bob claims a key of each of Alice's devices and sends each an Olm
	// message through "*".
	var c struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	}
	e.mustCall(t, bob, "POST", "/keys/claim", map[string]any{"one_time_keys": map[string]any{
		alice.id: map[string]string{alice.device: "signed_curve25519", alice2.device: "signed_curve25519"},
	}}, 200, &c)
	if len(c.OneTimeKeys[alice.id]) != 2 {
		t.Errorf("claimed %v, want a key of each of Alice's devices", c.OneTimeKeys)
	}
	e.mustCall(t, bob, "PUT", "/sendToDevice/m.room.encrypted/1", map[string]any{"messages": map[string]any{
		alice.id: map[string]any{"*": map[string]string{"algorithm": "m.olm.v1.curve25519-aes-sha2"}},
	}}, 200, nil)
	for _, u := range []*e2eeUser{alice, alice2} {
		msgs, _, err := e.toDevice.ToDeviceSince(context.Background(), u.id, u.device, 0, 0)
		if err != nil || len(msgs) != 1 || msgs[0].Sender != bob.id || msgs[0].Type != "m.room.encrypted" {
			t.Errorf("inbox of %s = %+v, %v; want Bob's message", u.device, msgs, err)
		}
	}

	// Logging a device out removes its keys and inbox.
	e.mustCall(t, alice2, "POST", "/logout", map[string]any{}, 200, nil)
	e.mustCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{alice.id: []string{}}}, 200, &q)
	if _, ok := q.DeviceKeys[alice.id][alice2.device]; ok || len(q.DeviceKeys[alice.id]) != 1 {
		t.Errorf("keys after logout = %v, want the first device's only", q.DeviceKeys[alice.id])
	}
	if msgs, _, _ := e.toDevice.ToDeviceSince(context.Background(), alice.id, alice2.device, 0, 0); len(msgs) != 0 {
		t.Errorf("inbox of a logged-out device: %v", msgs)
	}
}
