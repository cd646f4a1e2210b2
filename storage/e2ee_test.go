package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// mustDevice creates the account (if needed) and device rows the e2e
// tables refer to.
func mustDevice(tb testing.TB, db *DB, userID, deviceID, displayName string) {
	tb.Helper()
	err := db.Write(context.Background(), func(q Queryer) error {
		if _, err := q.ExecContext(context.Background(),
			"INSERT INTO users (user_id, creation_ts) VALUES (?, 0) ON CONFLICT DO NOTHING", userID); err != nil {
			return err
		}
		_, err := q.ExecContext(context.Background(),
			"INSERT INTO devices (user_id, device_id, display_name) VALUES (?, ?, NULLIF(?, ''))", userID, deviceID, displayName)
		return err
	})
	if err != nil {
		tb.Fatalf("creating device %s %s: %v", userID, deviceID, err)
	}
}

// deviceKeysJSON is a device key object of the spec's shape.
func deviceKeysJSON(userID, deviceID, ed string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"user_id":%q,"device_id":%q,"algorithms":["m.olm.v1.curve25519-aes-sha2","m.megolm.v1.aes-sha2"],`+
		`"keys":{"curve25519:%[2]s":"c-%[3]s","ed25519:%[2]s":%[3]q},"signatures":{%[1]q:{"ed25519:%[2]s":"sig"}}}`, userID, deviceID, ed))
}

func otk(key string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"key":%q,"signatures":{"@a:x":{"ed25519:D":"s"}}}`, key))
}

func TestUploadKeysCounts(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	mustDevice(t, db, "@a:x", "D", "")

	counts, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{
		DeviceKeys: deviceKeysJSON("@a:x", "D", "ed1"),
		OneTimeKeys: map[string]json.RawMessage{
			"signed_curve25519:AAAA": otk("k1"),
			"signed_curve25519:AAAB": otk("k2"),
			"curve25519:AAAC":        json.RawMessage(`"k3"`),
		},
	})
	if err != nil {
		t.Fatalf("UploadKeys: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"signed_curve25519": 2, "curve25519": 1}, counts); diff != "" {
		t.Errorf("counts after upload (-want +got):\n%s", diff)
	}

	tests := []struct {
		name    string
		up      core.KeyUpload
		wantErr error
		want    map[string]int
	}{
		{"same key again", core.KeyUpload{OneTimeKeys: map[string]json.RawMessage{"signed_curve25519:AAAA": json.RawMessage(` { "signatures":{"@a:x":{"ed25519:D":"s"}}, "key":"k1"}`)}},
			nil, map[string]int{"signed_curve25519": 2, "curve25519": 1}},
		{"same ID, other key", core.KeyUpload{OneTimeKeys: map[string]json.RawMessage{"signed_curve25519:AAAA": otk("other")}},
			core.ErrInvalidParam, nil},
		{"name without key ID", core.KeyUpload{OneTimeKeys: map[string]json.RawMessage{"signed_curve25519": otk("k")}},
			core.ErrInvalidParam, nil},
		{"bad fallback name", core.KeyUpload{FallbackKeys: map[string]json.RawMessage{":x": otk("k")}},
			core.ErrInvalidParam, nil},
		{"one more", core.KeyUpload{OneTimeKeys: map[string]json.RawMessage{"signed_curve25519:AAAD": otk("k4")}},
			nil, map[string]int{"signed_curve25519": 3, "curve25519": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ks.UploadKeys(ctx, "@a:x", "D", tt.up)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("UploadKeys err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
	// A failed upload changed nothing.
	counts, err = ks.OneTimeKeyCounts(ctx, "@a:x", "D")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"signed_curve25519": 3, "curve25519": 1}, counts); diff != "" {
		t.Errorf("OneTimeKeyCounts (-want +got):\n%s", diff)
	}
	if counts, _ := ks.OneTimeKeyCounts(ctx, "@a:x", "OTHER"); len(counts) != 0 {
		t.Errorf("OneTimeKeyCounts of another device = %v, want none", counts)
	}
}

func TestClaimKeys(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	mustDevice(t, db, "@a:x", "D", "")
	mustDevice(t, db, "@a:x", "E", "")

	// Two uploads: the first upload's keys go out first, whatever their IDs.
	for _, up := range []map[string]json.RawMessage{
		{"signed_curve25519:Z1": otk("first-z1")},
		{"signed_curve25519:A2": otk("second-a2")},
	} {
		if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{OneTimeKeys: up}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{FallbackKeys: map[string]json.RawMessage{
		"signed_curve25519:FB1": json.RawMessage(`{"key":"fb1","fallback":true,"signatures":{}}`),
	}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ks.UnusedFallbackKeyTypes(ctx, "@a:x", "D"); !slices.Equal(got, []string{"signed_curve25519"}) {
		t.Fatalf("UnusedFallbackKeyTypes = %v, want [signed_curve25519]", got)
	}

	claim := map[string]map[string]string{"@a:x": {"D": "signed_curve25519", "E": "signed_curve25519"}, "@nobody:x": {"Q": "signed_curve25519"}}
	wantNames := []string{"signed_curve25519:Z1", "signed_curve25519:A2", "signed_curve25519:FB1", "signed_curve25519:FB1"}
	for i, want := range wantNames {
		got, err := ks.ClaimKeys(ctx, claim)
		if err != nil {
			t.Fatalf("ClaimKeys %d: %v", i, err)
		}
		if len(got) != 1 || len(got["@a:x"]) != 1 {
			t.Fatalf("ClaimKeys %d = %v, want one key of @a:x D only", i, got)
		}
		keys := got["@a:x"]["D"]
		if _, ok := keys[want]; !ok || len(keys) != 1 {
			t.Errorf("ClaimKeys %d = %v, want %s", i, keys, want)
		}
	}
	if got, _ := ks.UnusedFallbackKeyTypes(ctx, "@a:x", "D"); len(got) != 0 {
		t.Errorf("UnusedFallbackKeyTypes after the fallback key was claimed = %v, want []", got)
	}
	if counts, _ := ks.OneTimeKeyCounts(ctx, "@a:x", "D"); len(counts) != 0 {
		t.Errorf("OneTimeKeyCounts after claiming all = %v, want none", counts)
	}

	// The same fallback key uploaded again stays used; a new one is unused.
	same := map[string]json.RawMessage{"signed_curve25519:FB1": json.RawMessage(`{"key":"fb1","fallback":true,"signatures":{}}`)}
	if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{FallbackKeys: same}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ks.UnusedFallbackKeyTypes(ctx, "@a:x", "D"); len(got) != 0 {
		t.Errorf("UnusedFallbackKeyTypes after re-uploading the used key = %v, want []", got)
	}
	next := map[string]json.RawMessage{"signed_curve25519:FB2": json.RawMessage(`{"key":"fb2","fallback":true,"signatures":{}}`)}
	if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{FallbackKeys: next}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ks.UnusedFallbackKeyTypes(ctx, "@a:x", "D"); !slices.Equal(got, []string{"signed_curve25519"}) {
		t.Errorf("UnusedFallbackKeyTypes after a new fallback key = %v, want [signed_curve25519]", got)
	}
	got, err := ks.ClaimKeys(ctx, map[string]map[string]string{"@a:x": {"D": "signed_curve25519"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["@a:x"]["D"]["signed_curve25519:FB2"]) != `{"key":"fb2","fallback":true,"signatures":{}}` {
		t.Errorf("claimed %v, want FB2 as uploaded", got)
	}
}

// TestClaimKeysOnce checks that concurrent claims never hand out one
// one-time key twice.
func TestClaimKeysOnce(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	mustDevice(t, db, "@a:x", "D", "")
	const n = 20
	keys := map[string]json.RawMessage{}
	for i := range n {
		keys[fmt.Sprintf("signed_curve25519:K%02d", i)] = otk(fmt.Sprint(i))
	}
	if _, err := ks.UploadKeys(ctx, "@a:x", "D", core.KeyUpload{OneTimeKeys: keys}); err != nil {
		t.Fatal(err)
	}
	results := make(chan string, n+5)
	errs := make(chan error, n+5)
	for range n + 5 {
		go func() {
			got, err := ks.ClaimKeys(ctx, map[string]map[string]string{"@a:x": {"D": "signed_curve25519"}})
			if err != nil {
				errs <- err
				return
			}
			name := ""
			for k := range got["@a:x"]["D"] {
				name = k
			}
			results <- name
		}()
	}
	seen := map[string]bool{}
	empty := 0
	for range n + 5 {
		select {
		case err := <-errs:
			t.Fatal(err)
		case name := <-results:
			if name == "" {
				empty++
				continue
			}
			if seen[name] {
				t.Errorf("key %s handed out twice", name)
			}
			seen[name] = true
		}
	}
	if len(seen) != n || empty != 5 {
		t.Errorf("claimed %d distinct keys and %d nothing, want %d and 5", len(seen), empty, n)
	}
}

func TestQueryDeviceKeys(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	mustDevice(t, db, "@a:x", "D1", "Phone")
	mustDevice(t, db, "@a:x", "D2", "")
	mustDevice(t, db, "@a:x", "D3", "No keys")
	for _, d := range []string{"D1", "D2"} {
		if _, err := ks.UploadKeys(ctx, "@a:x", d, core.KeyUpload{DeviceKeys: deviceKeysJSON("@a:x", d, "ed-"+d)}); err != nil {
			t.Fatal(err)
		}
	}

	type devInfo struct {
		DeviceID string                       `json:"device_id"`
		Keys     map[string]string            `json:"keys"`
		Sigs     map[string]map[string]string `json:"signatures"`
		Unsigned *struct {
			Name string `json:"device_display_name"`
		} `json:"unsigned"`
	}
	decode := func(t *testing.T, got map[string]map[string]json.RawMessage) map[string]map[string]devInfo {
		out := map[string]map[string]devInfo{}
		for u, devs := range got {
			out[u] = map[string]devInfo{}
			for d, raw := range devs {
				var di devInfo
				if err := json.Unmarshal(raw, &di); err != nil {
					t.Fatalf("device %s %s: %v", u, d, err)
				}
				out[u][d] = di
			}
		}
		return out
	}

	tests := []struct {
		name  string
		query map[string][]string
		want  map[string][]string // user → devices present
	}{
		{"all devices", map[string][]string{"@a:x": {}}, map[string][]string{"@a:x": {"D1", "D2"}}},
		{"one device", map[string][]string{"@a:x": {"D2"}}, map[string][]string{"@a:x": {"D2"}}},
		{"device without keys", map[string][]string{"@a:x": {"D3", "NOPE"}}, map[string][]string{}},
		{"unknown user", map[string][]string{"@b:x": {}}, map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ks.QueryDeviceKeys(ctx, "@a:x", tt.query)
			if err != nil {
				t.Fatal(err)
			}
			present := map[string][]string{}
			for u, devs := range got {
				for d := range devs {
					present[u] = append(present[u], d)
				}
				slices.Sort(present[u])
			}
			if diff := cmp.Diff(tt.want, present); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
		})
	}

	got, err := ks.QueryDeviceKeys(ctx, "@b:x", map[string][]string{"@a:x": {}})
	if err != nil {
		t.Fatal(err)
	}
	info := decode(t, got)
	if d1 := info["@a:x"]["D1"]; d1.Unsigned == nil || d1.Unsigned.Name != "Phone" || d1.Keys["ed25519:D1"] != "ed-D1" {
		t.Errorf("D1 = %+v, want its keys and display name Phone", d1)
	}
	if d2 := info["@a:x"]["D2"]; d2.Unsigned != nil {
		t.Errorf("D2 has unsigned %+v, want none (no display name)", d2.Unsigned)
	}

	// A deleted device's keys go with it.
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "DELETE FROM devices WHERE user_id = '@a:x' AND device_id = 'D1'")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got, err = ks.QueryDeviceKeys(ctx, "@a:x", map[string][]string{"@a:x": {}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["@a:x"]["D1"]; ok || len(got["@a:x"]) != 1 {
		t.Errorf("after deleting D1, keys = %v, want D2 only", got)
	}
	if counts, _ := ks.OneTimeKeyCounts(ctx, "@a:x", "D1"); len(counts) != 0 {
		t.Errorf("one-time keys of a deleted device: %v", counts)
	}
}

func TestDeviceListChanges(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	peers := map[string][]string{"@a:x": {"@a:x", "@b:x"}, "@b:x": {"@a:x", "@b:x"}}
	ks.SharedRoomUsers = func(_ context.Context, u string) ([]string, error) { return peers[u], nil }
	for _, u := range []string{"@a:x", "@b:x", "@c:x"} {
		mustDevice(t, db, u, "D", "")
	}
	pos := func() int64 {
		t.Helper()
		p, err := ks.DeviceListPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	upload := func(u, ed string) {
		t.Helper()
		if _, err := ks.UploadKeys(ctx, u, "D", core.KeyUpload{DeviceKeys: deviceKeysJSON(u, "D", ed)}); err != nil {
			t.Fatal(err)
		}
	}

	p0 := pos()
	upload("@a:x", "1")
	p1 := pos()
	if p1 <= p0 {
		t.Fatalf("position %d after an upload, want > %d", p1, p0)
	}
	upload("@a:x", "1") // the same keys: no change
	if p := pos(); p != p1 {
		t.Errorf("position %d after uploading the same keys, want %d", p, p1)
	}
	upload("@b:x", "1")
	p2 := pos()
	upload("@c:x", "1")
	p3 := pos()

	tests := []struct {
		user      string
		since, to int64
		want      []string
	}{
		{"@a:x", p0, p3, []string{"@a:x", "@b:x"}}, // @c:x shares no room
		{"@a:x", p1, p3, []string{"@b:x"}},
		{"@a:x", p0, p1, []string{"@a:x"}},
		{"@a:x", p2, p3, nil},
		{"@c:x", p0, p3, []string{"@c:x"}}, // a user always sees themself
		{"@a:x", p3, p3, nil},
		{"@a:x", p3, p0, nil},
	}
	for _, tt := range tests {
		got, err := ks.DeviceListChanges(ctx, tt.user, tt.since, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got.Changed); diff != "" {
			t.Errorf("DeviceListChanges(%s, %d, %d) changed (-want +got):\n%s", tt.user, tt.since, tt.to, diff)
		}
	}

	// A new change moves the user past the old window.
	upload("@b:x", "2")
	got, err := ks.DeviceListChanges(ctx, "@a:x", p3, pos())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Changed, []string{"@b:x"}) {
		t.Errorf("changes after @b:x's new keys = %v, want [@b:x]", got.Changed)
	}

	// Deleting a device through deleteDeviceE2EE is a change.
	before := pos()
	if err := db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, "DELETE FROM devices WHERE user_id = '@a:x'"); err != nil {
			return err
		}
		return deleteDeviceE2EE(ctx, q, "@a:x", "D")
	}); err != nil {
		t.Fatal(err)
	}
	got, err = ks.DeviceListChanges(ctx, "@b:x", before, pos())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Changed, []string{"@a:x"}) {
		t.Errorf("changes after @a:x's device was deleted = %v, want [@a:x]", got.Changed)
	}
}

// TestDeviceListChangesDefaultPeers checks the default "shares a room"
// lookup on local_current_membership.
func TestDeviceListChangesDefaultPeers(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	for _, u := range []string{"@a:x", "@b:x", "@c:x", "@d:x"} {
		mustDevice(t, db, u, "D", "")
	}
	// Room 1: a and b joined, c invited. d is joined to room 2 alone.
	err := db.Write(ctx, func(q Queryer) error {
		for _, m := range []struct {
			user       string
			room       int
			membership string
		}{{"@a:x", 1, "join"}, {"@b:x", 1, "join"}, {"@c:x", 1, "invite"}, {"@d:x", 2, "join"}} {
			if _, err := q.ExecContext(ctx, "INSERT INTO local_current_membership (user_id, room_nid, event_nid, membership) VALUES (?, ?, 0, ?)",
				m.user, m.room, m.membership); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p0, _ := ks.DeviceListPosition(ctx)
	for _, u := range []string{"@a:x", "@b:x", "@c:x", "@d:x"} {
		if _, err := ks.UploadKeys(ctx, u, "D", core.KeyUpload{DeviceKeys: deviceKeysJSON(u, "D", "k")}); err != nil {
			t.Fatal(err)
		}
	}
	p1, _ := ks.DeviceListPosition(ctx)
	got, err := ks.DeviceListChanges(ctx, "@a:x", p0, p1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"@a:x", "@b:x"}, got.Changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
}

func TestCrossSigningSignatureVisibility(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	ks := NewKeyStore(db)
	mustDevice(t, db, "@a:x", "DA", "")
	mustDevice(t, db, "@b:x", "DB", "")
	if _, err := ks.UploadKeys(ctx, "@b:x", "DB", core.KeyUpload{DeviceKeys: deviceKeysJSON("@b:x", "DB", "edb")}); err != nil {
		t.Fatal(err)
	}
	csKey := func(u, usage, pub string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"user_id":%q,"usage":[%q],"keys":{"ed25519:%[3]s":%[3]q}}`, u, usage, pub))
	}
	for _, u := range []string{"@a:x", "@b:x"} {
		err := ks.UploadCrossSigningKeys(ctx, u, core.CrossSigningKeys{
			Master:      csKey(u, "master", u+"-msk"),
			SelfSigning: csKey(u, "self_signing", u+"-ssk"),
			UserSigning: csKey(u, "user_signing", u+"-usk"),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ks.UploadCrossSigningKeys(ctx, "@a:x", core.CrossSigningKeys{Master: json.RawMessage(`{"keys":{}}`)}); !errors.Is(err, core.ErrInvalidParam) {
		t.Errorf("UploadCrossSigningKeys with no key = %v, want M_INVALID_PARAM", err)
	}
	err := ks.AddSignatures(ctx, []core.KeySignature{
		// a's user-signing key signs b's master key: only a may see it.
		{SignerUserID: "@a:x", SignerKeyID: "ed25519:@a:x-usk", TargetUserID: "@b:x", TargetKeyID: "@b:x-msk", Signature: "a-on-b-msk"},
		// b's self-signing key signs b's device: everyone sees it.
		{SignerUserID: "@b:x", SignerKeyID: "ed25519:@b:x-ssk", TargetUserID: "@b:x", TargetKeyID: "DB", Signature: "b-ssk-on-DB"},
		// b's device signs b's master key: everyone sees it.
		{SignerUserID: "@b:x", SignerKeyID: "ed25519:DB", TargetUserID: "@b:x", TargetKeyID: "@b:x-msk", Signature: "DB-on-b-msk"},
	})
	if err != nil {
		t.Fatal(err)
	}

	sigsOf := func(raw json.RawMessage) map[string]map[string]string {
		var k struct {
			Sigs map[string]map[string]string `json:"signatures"`
		}
		if err := json.Unmarshal(raw, &k); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return k.Sigs
	}
	tests := []struct {
		requester string
		wantMSK   map[string]map[string]string
		wantUSK   bool
	}{
		{"@a:x", map[string]map[string]string{"@a:x": {"ed25519:@a:x-usk": "a-on-b-msk"}, "@b:x": {"ed25519:DB": "DB-on-b-msk"}}, false},
		{"@b:x", map[string]map[string]string{"@b:x": {"ed25519:DB": "DB-on-b-msk"}}, true},
		{"@c:x", map[string]map[string]string{"@b:x": {"ed25519:DB": "DB-on-b-msk"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.requester, func(t *testing.T) {
			got, err := ks.CrossSigningKeys(ctx, tt.requester, []string{"@b:x", "@nobody:x"})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got["@nobody:x"]; ok || len(got) != 1 {
				t.Fatalf("CrossSigningKeys users = %v, want @b:x only", got)
			}
			if diff := cmp.Diff(tt.wantMSK, sigsOf(got["@b:x"].Master)); diff != "" {
				t.Errorf("master key signatures (-want +got):\n%s", diff)
			}
			if (got["@b:x"].UserSigning != nil) != tt.wantUSK {
				t.Errorf("user-signing key present = %v, want %v", got["@b:x"].UserSigning != nil, tt.wantUSK)
			}
			dk, err := ks.QueryDeviceKeys(ctx, tt.requester, map[string][]string{"@b:x": {"DB"}})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]string{"@b:x": {"ed25519:DB": "sig", "ed25519:@b:x-ssk": "b-ssk-on-DB"}}
			if diff := cmp.Diff(want, sigsOf(dk["@b:x"]["DB"])); diff != "" {
				t.Errorf("device signatures (-want +got):\n%s", diff)
			}
		})
	}

	stored, err := ks.StoredCrossSigningKeys(ctx, "@b:x")
	if err != nil {
		t.Fatal(err)
	}
	if sigs := sigsOf(stored.Master); len(sigs) != 0 {
		t.Errorf("stored master key has merged signatures %v, want it as uploaded", sigs)
	}
}
