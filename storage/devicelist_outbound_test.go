package storage

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// queuedDeviceUpdates queues the device changes recorded so far and returns
// the m.device_list_update EDUs each destination got, taking them off the
// queues.
func queuedDeviceUpdates(t *testing.T, q *FederationQueueStore, dests ...string) map[string][]core.DeviceListUpdate {
	t.Helper()
	ctx := context.Background()
	for {
		_, more, err := q.QueueDeviceListUpdates(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	out := map[string][]core.DeviceListUpdate{}
	for _, d := range dests {
		b, err := q.NextBatch(ctx, d, 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.EDUs {
			if e.Type != "m.device_list_update" {
				continue
			}
			var u core.DeviceListUpdate
			if err := json.Unmarshal(e.Content, &u); err != nil {
				t.Fatalf("EDU content %s: %v", e.Content, err)
			}
			out[d] = append(out[d], u)
		}
		if err := q.BatchSent(ctx, d, b); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestDeviceListUpdatesForOtherServers: on a database made at schema
// version 1 and migrated (delta 2/24), each new, re-keyed, renamed and
// deleted device of alice's becomes one m.device_list_update for each
// server with a member joined to a room she is in (not for one whose user
// left), with stream_ids that grow and prev_ids that chain; a logout of
// all devices sends one deleted update per device; /user/devices' stream_id
// is the newest, and rows already sent are pruned to that one.
func TestDeviceListUpdatesForOtherServers(t *testing.T) {
	ctx := context.Background()
	path := testPath(t, "v1.db")
	old := &SchemaTree{FS: hearthSchema.FS, Version: 1, CompatVersion: 1, GoDeltas: hearthSchema.GoDeltas}
	db, err := openWith(ctx, Options{Path: path, VFS: testVFS, Logger: quietLog}, old)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := newTestStoreWith(t, Options{Path: path, VFS: testVFS, Logger: quietLog})
	accounts := NewAccountStore(s.db, AccountOptions{Password: testPasswordParams})
	keys := NewKeyStore(s.db)
	q := NewFederationQueueStore(s.db)
	if _, err := accounts.CreateAccount(ctx, core.NewAccount{UserID: alice, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	sharedRoom(t, s, "devices")
	dests := []string{"a.test", "b.test", "c.test"}

	// step makes one change and returns the one update each of a.test and
	// b.test got for it (the same for both); c.test gets none.
	step := func(what string, change func() error) core.DeviceListUpdate {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := queuedDeviceUpdates(t, q, dests...)
		if len(got["a.test"]) != 1 || !cmp.Equal(got["a.test"], got["b.test"]) || len(got["c.test"]) != 0 {
			t.Fatalf("%s: queued %+v, want one update for a.test and b.test each", what, got)
		}
		return got["a.test"][0]
	}

	var dev string
	created := step("login", func() error {
		tok, err := accounts.IssueTokens(ctx, core.NewLogin{UserID: alice, DeviceDisplayName: "phone"})
		dev = tok.DeviceID
		return err
	})
	if created.UserID != alice || created.DeviceID != dev || created.Deleted || created.DisplayName != "phone" ||
		created.Keys != nil || created.StreamID <= 0 || len(created.PrevID) != 0 {
		t.Fatalf("new device: %+v", created)
	}
	keyed := step("key upload", func() error {
		_, err := keys.UploadKeys(ctx, alice, dev, core.KeyUpload{DeviceKeys: deviceKeysJSON(alice, dev, "ed1")})
		return err
	})
	if !sameJSON(keyed.Keys, deviceKeysJSON(alice, dev, "ed1")) || keyed.Deleted {
		t.Fatalf("keys uploaded: %+v", keyed)
	}
	renamed := step("rename", func() error { return accounts.SetDeviceDisplayName(ctx, alice, dev, "laptop") })
	if renamed.DisplayName != "laptop" || renamed.Keys == nil {
		t.Fatalf("renamed: %+v", renamed)
	}
	deleted := step("delete", func() error { return accounts.DeleteDevices(ctx, alice, []string{dev, "NOSUCHDEVICE"}) })
	if !deleted.Deleted || deleted.DeviceID != dev || deleted.Keys != nil || deleted.DisplayName != "" {
		t.Fatalf("deleted: %+v", deleted)
	}
	chain := []core.DeviceListUpdate{created, keyed, renamed, deleted}
	for i := 1; i < len(chain); i++ {
		if chain[i].StreamID <= chain[i-1].StreamID || !slices.Equal(chain[i].PrevID, []int64{chain[i-1].StreamID}) {
			t.Fatalf("update %d: stream_id %d prev_id %v after stream_id %d", i, chain[i].StreamID, chain[i].PrevID, chain[i-1].StreamID)
		}
	}

	// Two devices logged out at once: one update each, chained.
	var two []string
	for range 2 {
		tok, err := accounts.IssueTokens(ctx, core.NewLogin{UserID: alice})
		if err != nil {
			t.Fatal(err)
		}
		two = append(two, tok.DeviceID)
	}
	queuedDeviceUpdates(t, q, dests...)
	before, err := keys.DeviceListStreamID(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := accounts.LogoutAll(ctx, alice); err != nil {
		t.Fatal(err)
	}
	got := queuedDeviceUpdates(t, q, dests...)["a.test"]
	slices.Sort(two)
	if len(got) != 2 || got[0].DeviceID != two[0] || got[1].DeviceID != two[1] || !got[0].Deleted || !got[1].Deleted ||
		!slices.Equal(got[0].PrevID, []int64{before}) || !slices.Equal(got[1].PrevID, []int64{got[0].StreamID}) {
		t.Fatalf("logout of all devices after stream_id %d: %+v", before, got)
	}
	last, err := keys.DeviceListStreamID(ctx, alice)
	if err != nil || last != got[1].StreamID {
		t.Fatalf("DeviceListStreamID = %d, %v; want %d", last, err, got[1].StreamID)
	}
	var rows int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM device_list_outbound").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d rows left in device_list_outbound (%v), want alice's newest only", rows, err)
	}
	// Nothing is queued twice.
	if dests, more, err := q.QueueDeviceListUpdates(ctx, 10); err != nil || len(dests) != 0 || more {
		t.Fatalf("QueueDeviceListUpdates again = %v, %v, %v", dests, more, err)
	}
}

// TestSigningKeyUpdatesForOtherServers: alice's new master and
// self-signing keys reach the servers sharing a room with her as one
// m.signing_key_update (never her user-signing key), and so does her
// device's signature on her master key; they take no place in her chain of
// device list updates, whose next prev_id names her last device change.
func TestSigningKeyUpdatesForOtherServers(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	accounts := NewAccountStore(s.db, AccountOptions{Password: testPasswordParams})
	keys := NewKeyStore(s.db)
	q := NewFederationQueueStore(s.db)
	if _, err := accounts.CreateAccount(ctx, core.NewAccount{UserID: alice, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	sharedRoom(t, s, "signing")
	tok, err := accounts.IssueTokens(ctx, core.NewLogin{UserID: alice})
	if err != nil {
		t.Fatal(err)
	}
	queuedDeviceUpdates(t, q, "a.test")
	last, err := keys.DeviceListStreamID(ctx, alice)
	if err != nil || last == 0 {
		t.Fatalf("DeviceListStreamID = %d, %v", last, err)
	}
	csKey := func(usage string) json.RawMessage {
		return json.RawMessage(`{"user_id":"` + alice + `","usage":["` + usage + `"],"keys":{"ed25519:` + usage + `-key":"` + usage + `-key"}}`)
	}
	signingUpdates := func() []map[string]json.RawMessage {
		t.Helper()
		if _, _, err := q.QueueDeviceListUpdates(ctx, 10); err != nil {
			t.Fatal(err)
		}
		b, err := q.NextBatch(ctx, "b.test", 50, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]json.RawMessage
		for _, e := range b.EDUs {
			if e.Type == "m.signing_key_update" {
				var c map[string]json.RawMessage
				if err := json.Unmarshal(e.Content, &c); err != nil {
					t.Fatal(err)
				}
				out = append(out, c)
			}
		}
		if err := q.BatchSent(ctx, "b.test", b); err != nil {
			t.Fatal(err)
		}
		return out
	}
	signingUpdates() // drains b.test's device list updates
	err = keys.UploadCrossSigningKeys(ctx, alice, core.CrossSigningKeys{
		Master: csKey("master"), SelfSigning: csKey("self_signing"), UserSigning: csKey("user_signing")})
	if err != nil {
		t.Fatal(err)
	}
	got := signingUpdates()
	if len(got) != 1 || string(got[0]["user_id"]) != `"`+alice+`"` || !sameJSON(got[0]["master_key"], csKey("master")) ||
		!sameJSON(got[0]["self_signing_key"], csKey("self_signing")) || got[0]["user_signing_key"] != nil {
		t.Fatalf("m.signing_key_update = %s, want alice's master and self-signing keys", got)
	}
	err = keys.AddSignatures(ctx, []core.KeySignature{{SignerUserID: alice, SignerKeyID: "ed25519:" + tok.DeviceID,
		TargetUserID: alice, TargetKeyID: "master-key", Signature: "device-on-master"}})
	if err != nil {
		t.Fatal(err)
	}
	got = signingUpdates()
	if len(got) != 1 || !strings.Contains(string(got[0]["master_key"]), "device-on-master") {
		t.Fatalf("after signing the master key: %s, want one update carrying the signature", got)
	}
	if err := accounts.SetDeviceDisplayName(ctx, alice, tok.DeviceID, "renamed"); err != nil {
		t.Fatal(err)
	}
	ups := queuedDeviceUpdates(t, q, "a.test")["a.test"]
	if len(ups) != 1 || !slices.Equal(ups[0].PrevID, []int64{last}) {
		t.Fatalf("device update after the signing key changes = %+v, want prev_id [%d]", ups, last)
	}
}
