package storage

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

func TestKeyBackupVersions(t *testing.T) {
	ctx := context.Background()
	kb := NewKeyBackupStore(mustOpen(t))
	const alg = "m.megolm_backup.v1.curve25519-aes-sha2"

	if _, err := kb.KeyBackup(ctx, "@a:x", ""); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("KeyBackup with none = %v, want M_NOT_FOUND", err)
	}
	v1, err := kb.CreateKeyBackup(ctx, "@a:x", alg, json.RawMessage(`{"public_key":"one"}`))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := kb.CreateKeyBackup(ctx, "@a:x", alg, json.RawMessage(`{"public_key":"two"}`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := kb.CreateKeyBackup(ctx, "@b:x", alg, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if v1 != "1" || v2 != "2" || other != "1" {
		t.Errorf("versions %q %q (and @b:x %q), want 1 2 (1): numbered per user", v1, v2, other)
	}
	cur, err := kb.KeyBackup(ctx, "@a:x", "")
	if err != nil {
		t.Fatal(err)
	}
	want := &core.KeyBackupVersion{Version: "2", Algorithm: alg, AuthData: json.RawMessage(`{"public_key":"two"}`), Count: 0, ETag: "0"}
	if diff := cmp.Diff(want, cur); diff != "" {
		t.Errorf("current backup (-want +got):\n%s", diff)
	}

	if err := kb.UpdateKeyBackup(ctx, "@a:x", "1", "other.algorithm", json.RawMessage(`{}`)); !errors.Is(err, core.ErrInvalidParam) {
		t.Errorf("UpdateKeyBackup with another algorithm = %v, want M_INVALID_PARAM", err)
	}
	if err := kb.UpdateKeyBackup(ctx, "@a:x", "1", alg, json.RawMessage(`{"public_key":"uno"}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := kb.KeyBackup(ctx, "@a:x", "1"); b == nil || string(b.AuthData) != `{"public_key":"uno"}` {
		t.Errorf("backup 1 after update = %+v", b)
	}

	// Deleting the current version makes the older one current; deleting
	// twice succeeds; a version never created is not found.
	if err := kb.DeleteKeyBackup(ctx, "@a:x", "2"); err != nil {
		t.Fatal(err)
	}
	if err := kb.DeleteKeyBackup(ctx, "@a:x", "2"); err != nil {
		t.Errorf("deleting a deleted backup: %v, want success", err)
	}
	for _, v := range []string{"3", "0", "x", "01", ""} {
		if v == "" {
			continue
		}
		if err := kb.DeleteKeyBackup(ctx, "@a:x", v); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("DeleteKeyBackup(%q) = %v, want M_NOT_FOUND", v, err)
		}
		if _, err := kb.KeyBackup(ctx, "@a:x", v); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("KeyBackup(%q) = %v, want M_NOT_FOUND", v, err)
		}
	}
	if _, err := kb.KeyBackup(ctx, "@a:x", "2"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("KeyBackup of a deleted version = %v, want M_NOT_FOUND", err)
	}
	if cur, err := kb.KeyBackup(ctx, "@a:x", ""); err != nil || cur.Version != "1" {
		t.Errorf("current after deleting 2 = %+v, %v; want version 1", cur, err)
	}
	// A new backup never reuses a deleted version's number.
	if v, _ := kb.CreateKeyBackup(ctx, "@a:x", alg, json.RawMessage(`{}`)); v != "3" {
		t.Errorf("new version = %q, want 3", v)
	}
}

func TestRoomKeysReplaceRules(t *testing.T) {
	ctx := context.Background()
	kb := NewKeyBackupStore(mustOpen(t))
	if _, _, err := kb.PutRoomKeys(ctx, "@a:x", "1", nil); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("PutRoomKeys without a backup = %v, want M_NOT_FOUND", err)
	}
	for range 2 {
		if _, err := kb.CreateKeyBackup(ctx, "@a:x", "alg", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := kb.PutRoomKeys(ctx, "@a:x", "1", nil)
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != "M_WRONG_ROOM_KEYS_VERSION" || me.Extra["current_version"] != "2" || me.Status != 403 {
		t.Fatalf("PutRoomKeys to an old version = %v (%+v), want M_WRONG_ROOM_KEYS_VERSION/403 with current_version 2", err, me)
	}

	key := func(verified bool, first, fwd int64, data string) core.RoomKeyBackup {
		return core.RoomKeyBackup{IsVerified: verified, FirstMessageIndex: first, ForwardedCount: fwd, SessionData: json.RawMessage(`{"d":"` + data + `"}`)}
	}
	put := func(k core.RoomKeyBackup) (int64, string) {
		t.Helper()
		n, etag, err := kb.PutRoomKeys(ctx, "@a:x", "2", map[string]map[string]core.RoomKeyBackup{"!r:x": {"s": k}})
		if err != nil {
			t.Fatal(err)
		}
		return n, etag
	}
	stored := func() string {
		t.Helper()
		got, err := kb.RoomKeys(ctx, "@a:x", "2", "!r:x", "s")
		if err != nil {
			t.Fatal(err)
		}
		return string(got["!r:x"]["s"].SessionData)
	}

	steps := []struct {
		name      string
		k         core.RoomKeyBackup
		wantData  string
		wantNewTa bool
	}{
		{"first", key(false, 5, 1, "first"), "first", true},
		{"higher index loses", key(false, 6, 0, "higher"), "first", false},
		{"lower index wins", key(false, 4, 3, "lower"), "lower", true},
		{"same index, more forwards loses", key(false, 4, 4, "morefwd"), "lower", false},
		{"same index, fewer forwards wins", key(false, 4, 2, "fewerfwd"), "fewerfwd", true},
		{"equal keeps the old", key(false, 4, 2, "equal"), "fewerfwd", false},
		{"verified wins whatever the index", key(true, 9, 9, "verified"), "verified", true},
		{"unverified loses to verified", key(false, 0, 0, "unverified"), "verified", false},
	}
	_, lastETag := put(key(false, 100, 100, "seed"))
	for _, st := range steps {
		n, etag := put(st.k)
		if got := stored(); got != `{"d":"`+st.wantData+`"}` {
			t.Errorf("%s: stored %s, want %s", st.name, got, st.wantData)
		}
		if n != 1 {
			t.Errorf("%s: count %d, want 1", st.name, n)
		}
		if (etag != lastETag) != st.wantNewTa {
			t.Errorf("%s: etag %s -> %s, want changed = %v", st.name, lastETag, etag, st.wantNewTa)
		}
		lastETag = etag
	}
}

func TestRoomKeysGetDelete(t *testing.T) {
	ctx := context.Background()
	kb := NewKeyBackupStore(mustOpen(t))
	v, err := kb.CreateKeyBackup(ctx, "@a:x", "alg", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	k := core.RoomKeyBackup{SessionData: json.RawMessage(`{}`)}
	n, _, err := kb.PutRoomKeys(ctx, "@a:x", v, map[string]map[string]core.RoomKeyBackup{
		"!r1:x": {"s1": k, "s2": k},
		"!r2:x": {"s3": k},
	})
	if err != nil || n != 3 {
		t.Fatalf("PutRoomKeys = %d, %v; want 3 keys", n, err)
	}
	shape := func(m map[string]map[string]core.RoomKeyBackup) map[string][]string {
		out := map[string][]string{}
		for r, ss := range m {
			out[r] = sortedKeys(ss)
		}
		return out
	}
	tests := []struct {
		room, session string
		want          map[string][]string
	}{
		{"", "", map[string][]string{"!r1:x": {"s1", "s2"}, "!r2:x": {"s3"}}},
		{"!r1:x", "", map[string][]string{"!r1:x": {"s1", "s2"}}},
		{"!r1:x", "s2", map[string][]string{"!r1:x": {"s2"}}},
		{"!r1:x", "s3", map[string][]string{}},
		{"!nope:x", "", map[string][]string{}},
	}
	for _, tt := range tests {
		got, err := kb.RoomKeys(ctx, "@a:x", v, tt.room, tt.session)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, shape(got)); diff != "" {
			t.Errorf("RoomKeys(%q, %q) (-want +got):\n%s", tt.room, tt.session, diff)
		}
	}
	if _, err := kb.RoomKeys(ctx, "@a:x", "9", "", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("RoomKeys of an unknown version = %v, want M_NOT_FOUND", err)
	}

	info, _ := kb.KeyBackup(ctx, "@a:x", v)
	n, etag, err := kb.DeleteRoomKeys(ctx, "@a:x", v, "!r1:x", "s1")
	if err != nil || n != 2 || etag == info.ETag {
		t.Errorf("DeleteRoomKeys one session = %d, %q, %v; want 2 left and a new etag (was %q)", n, etag, err, info.ETag)
	}
	n, etag2, err := kb.DeleteRoomKeys(ctx, "@a:x", v, "!r1:x", "s1")
	if err != nil || n != 2 || etag2 != etag {
		t.Errorf("DeleteRoomKeys of nothing = %d, %q, %v; want 2 left and the same etag %q", n, etag2, err, etag)
	}
	if n, _, err := kb.DeleteRoomKeys(ctx, "@a:x", v, "", ""); err != nil || n != 0 {
		t.Errorf("DeleteRoomKeys all = %d, %v; want 0 left", n, err)
	}
	if _, _, err := kb.DeleteRoomKeys(ctx, "@a:x", "9", "", ""); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DeleteRoomKeys of an unknown version = %v, want M_NOT_FOUND", err)
	}
	// Deleting the backup deletes its keys.
	if _, _, err := kb.PutRoomKeys(ctx, "@a:x", v, map[string]map[string]core.RoomKeyBackup{"!r:x": {"s": k}}); err != nil {
		t.Fatal(err)
	}
	if err := kb.DeleteKeyBackup(ctx, "@a:x", v); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := kb.db.Reader().QueryRow("SELECT COUNT(*) FROM e2e_room_keys").Scan(&rows); err != nil || rows != 0 {
		t.Errorf("key rows after deleting the backup = %d (%v), want 0", rows, err)
	}
}
