package storage

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

func TestAccountData(t *testing.T) {
	ctx := context.Background()
	s := NewAccountDataStore(mustOpen(t))
	const u, room = "@alice:example.org", "!room:example.org"

	_, err := s.AccountData(ctx, u, "", "org.example.config")
	wantErrIs(t, "unset account data", err, core.ErrNotFound)

	p1, err := s.SetAccountData(ctx, u, "", "org.example.config", json.RawMessage(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.SetAccountData(ctx, u, room, "org.example.config", json.RawMessage(`{"room":true}`))
	if err != nil {
		t.Fatal(err)
	}
	p3, err := s.SetAccountData(ctx, u, "", "org.example.config", json.RawMessage(`{"a":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if !(p1 < p2 && p2 < p3) {
		t.Errorf("positions %d, %d, %d are not increasing", p1, p2, p3)
	}
	for _, tt := range []struct{ room, want string }{{"", `{"a":2}`}, {room, `{"room":true}`}} {
		got, err := s.AccountData(ctx, u, tt.room, "org.example.config")
		if err != nil || string(got) != tt.want {
			t.Errorf("AccountData(room %q) = %s, %v; want %s", tt.room, got, err, tt.want)
		}
	}
	// Room data does not fall back to global data, nor across users.
	if _, err := s.AccountData(ctx, u, "!other:example.org", "org.example.config"); err == nil {
		t.Error("room account data fell back")
	}
	if _, err := s.AccountData(ctx, "@bob:example.org", "", "org.example.config"); err == nil {
		t.Error("another user's account data was visible")
	}

	pos, err := s.AccountDataPosition(ctx)
	if err != nil || pos != p3 {
		t.Fatalf("AccountDataPosition = %d, %v; want %d", pos, err, p3)
	}
	global, rooms, err := s.AccountDataChanges(ctx, u, p1, p3)
	if err != nil {
		t.Fatal(err)
	}
	wantGlobal := []core.AccountDataEvent{{Type: "org.example.config", Content: json.RawMessage(`{"a":2}`)}}
	wantRooms := map[string][]core.AccountDataEvent{room: {{Type: "org.example.config", Content: json.RawMessage(`{"room":true}`)}}}
	if diff := cmp.Diff(wantGlobal, global); diff != "" {
		t.Errorf("global changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRooms, rooms); diff != "" {
		t.Errorf("room changes (-want +got):\n%s", diff)
	}
	global, rooms, err = s.AccountDataChanges(ctx, u, p3, p3)
	if err != nil || len(global) != 0 || len(rooms) != 0 {
		t.Errorf("changes in (p3, p3] = %v, %v, %v; want none", global, rooms, err)
	}
}

func TestAccountDataDefaultPushRules(t *testing.T) {
	ctx := context.Background()
	s := NewAccountDataStore(mustOpen(t))
	const u = "@alice:example.org"
	c, err := s.AccountData(ctx, u, "", core.AccountDataPushRules)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Global push.Ruleset }
	if err := json.Unmarshal(c, &got); err != nil {
		t.Fatal(err)
	}
	if r := got.Global.Find(push.Override, ".m.rule.invite_for_me"); r == nil || *r.Conditions[2].Pattern != u {
		t.Errorf("default m.push_rules invite_for_me = %+v", r)
	}
	// An initial sync carries m.push_rules even before any change.
	if _, err := s.SetAccountData(ctx, u, "", "org.example.x", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	pos, _ := s.AccountDataPosition(ctx)
	global, _, err := s.AccountDataChanges(ctx, u, 0, pos)
	if err != nil || len(global) != 2 || global[1].Type != core.AccountDataPushRules {
		t.Errorf("initial changes: %d events, %v; want org.example.x and m.push_rules", len(global), err)
	}
	// An incremental one does not.
	global, _, _ = s.AccountDataChanges(ctx, u, pos, pos)
	if len(global) != 0 {
		t.Errorf("incremental changes: %d events, want none", len(global))
	}
}

func TestRoomTags(t *testing.T) {
	ctx := context.Background()
	s := NewAccountDataStore(mustOpen(t))
	const u, room = "@alice:example.org", "!room:example.org"
	tags, err := s.RoomTags(ctx, u, room)
	if err != nil || len(tags) != 0 {
		t.Fatalf("RoomTags of an untagged room = %v, %v", tags, err)
	}
	p1, err := s.SetRoomTag(ctx, u, room, "m.favourite", json.RawMessage(`{"order":0.1}`))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.SetRoomTag(ctx, u, room, "u.Work", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	p3, err := s.DeleteRoomTag(ctx, u, room, "m.favourite")
	if err != nil {
		t.Fatal(err)
	}
	p4, err := s.DeleteRoomTag(ctx, u, room, "m.lowpriority")
	if err != nil {
		t.Fatal(err)
	}
	if !(p1 < p2 && p2 < p3) || p4 != p3 {
		t.Errorf("positions %d %d %d %d: want increasing, and no new one for deleting an absent tag", p1, p2, p3, p4)
	}
	tags, err = s.RoomTags(ctx, u, room)
	if diff := cmp.Diff(map[string]json.RawMessage{"u.Work": json.RawMessage(`{}`)}, tags); diff != "" || err != nil {
		t.Errorf("RoomTags (-want +got):\n%s %v", diff, err)
	}
	c, err := s.AccountData(ctx, u, room, core.AccountDataTag)
	if err != nil || string(c) != `{"tags":{"u.Work":{}}}` {
		t.Errorf("m.tag = %s, %v", c, err)
	}
}

func TestIgnoredUsers(t *testing.T) {
	ctx := context.Background()
	s := NewAccountDataStore(mustOpen(t))
	const u = "@alice:example.org"
	if got, err := s.IgnoredUsers(ctx, u); err != nil || len(got) != 0 {
		t.Fatalf("IgnoredUsers = %v, %v", got, err)
	}
	tests := []struct {
		content string
		want    map[string]bool
	}{
		{`{"ignored_users":{"@spam:example.com":{},"@troll:example.net":{}}}`, map[string]bool{"@spam:example.com": true, "@troll:example.net": true}},
		{`{"ignored_users":[]}`, map[string]bool{}},
		{`{}`, map[string]bool{}},
	}
	for _, tt := range tests {
		if _, err := s.SetAccountData(ctx, u, "", core.AccountDataIgnoredUsers, json.RawMessage(tt.content)); err != nil {
			t.Fatal(err)
		}
		got, err := s.IgnoredUsers(ctx, u)
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("IgnoredUsers after %s = %v, %v; want %v", tt.content, got, err, tt.want)
		}
	}
}

// TestIgnoredUsersKept compares the kept ignore lists with the lists read
// from the database after each of 200 random writes of account data (ignore
// lists of three users, other account data, room account data), and
// checks that a second read with nothing written between reads nothing.
func TestIgnoredUsersKept(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	s := NewAccountDataStore(db)
	users := []string{"@a:example.org", "@b:example.org", "@c:example.org"}
	others := []string{"@x:example.com", "@y:example.com", "@z:example.com", "@a:example.org"}
	rng := rand.New(rand.NewPCG(3, 4))
	fresh := func(u string) map[string]bool {
		t.Helper()
		c, err := getAccountData(ctx, db.Cached(), u, "", core.AccountDataIgnoredUsers)
		if err != nil {
			t.Fatal(err)
		}
		return ParseIgnoredUsers(c)
	}
	for step := range 200 {
		u := users[rng.IntN(len(users))]
		switch rng.IntN(4) {
		case 0, 1:
			list := map[string]any{}
			for _, o := range others {
				if rng.IntN(2) == 0 {
					list[o] = map[string]any{}
				}
			}
			c, _ := json.Marshal(map[string]any{"ignored_users": list})
			if _, err := s.SetAccountData(ctx, u, "", core.AccountDataIgnoredUsers, c); err != nil {
				t.Fatal(err)
			}
		case 2:
			if _, err := s.SetAccountData(ctx, u, "", "m.other", json.RawMessage(`{"n":1}`)); err != nil {
				t.Fatal(err)
			}
		case 3:
			if _, err := s.SetAccountData(ctx, u, "!r:example.org", core.AccountDataIgnoredUsers, json.RawMessage(`{"ignored_users":{"@x:example.com":{}}}`)); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range users {
			for range 3 { // read, kept, kept after the caller changed its copy
				got, err := s.IgnoredUsers(ctx, v)
				if err != nil {
					t.Fatal(err)
				}
				if want := fresh(v); !cmp.Equal(got, want) {
					t.Fatalf("step %d: IgnoredUsers(%s) = %v, want %v", step, v, got, want)
				}
				got["@changed:example.com"] = true // the caller's copy
			}
		}
		before := db.ReadTransactions()
		if _, err := s.IgnoredUsers(ctx, u); err != nil {
			t.Fatal(err)
		}
		if n := db.ReadTransactions() - before; n != 0 {
			t.Fatalf("step %d: a kept ignore list began %d read transactions", step, n)
		}
	}
}
