package storage

import (
	"context"
	"errors"
	"testing"

	"hearth.dev/hearth/core"
)

// TestLastJoin: the position of a user's latest join, on a database made
// at schema version 1 and migrated (delta 2/85 adds the index the query
// uses); a user who never joined, or an unknown room, is ErrNotFound.
func TestLastJoin(t *testing.T) {
	ctx := context.Background()
	path := testPath(t, "v1.db")
	old := &SchemaTree{FS: hearthSchema.FS, Version: 1, CompatVersion: 1, GoDeltas: hearthSchema.GoDeltas}
	db, err := openWith(ctx, Options{Path: path, Logger: quietLog}, old)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := newTestStoreWith(t, Options{Path: path, Logger: quietLog})
	var n int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'room_memberships_room_user'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("index after the migration: %d, %v", n, err)
	}
	r := newTestRoom(t, s, "joins")
	bob := "@bob:" + testServer
	r.persist(core.PersistOptions{}, r.member("j1", 2, bob, "join"))
	r.persist(core.PersistOptions{}, r.member("l1", 3, bob, "leave", "j1"))
	j2 := r.member("j2", 4, bob, "join", "l1")
	r.persist(core.PersistOptions{}, j2)
	r.persist(core.PersistOptions{}, r.member("l2", 5, bob, "leave", "j2"))
	r.persist(core.PersistOptions{}, r.msg("m", 6, "l2"))

	at, err := s.LastJoin(ctx, r.id, bob)
	if err != nil || at.Depth != 4 {
		t.Fatalf("LastJoin = %+v, %v; want depth 4", at, err)
	}
	stored, err := s.Event(ctx, j2.EventID)
	if err != nil || at.Stream != stored.StreamOrdering {
		t.Fatalf("LastJoin stream %d, want %d (%v)", at.Stream, stored.StreamOrdering, err)
	}
	if _, err := s.LastJoin(ctx, r.id, "@carol:"+testServer); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("LastJoin of a user who never joined: %v", err)
	}
	if _, err := s.LastJoin(ctx, "!nowhere:"+testServer, bob); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("LastJoin in an unknown room: %v", err)
	}

	// LastJoins: the same for several rooms at once; a room bob never
	// joined and an unknown room are absent.
	other := newTestRoom(t, s, "other")
	joins, err := s.LastJoins(ctx, []string{r.id, other.id, "!nowhere:" + testServer}, bob)
	if err != nil {
		t.Fatal(err)
	}
	if len(joins) != 1 || joins[r.id] != at {
		t.Errorf("LastJoins = %+v, want only %s at %+v", joins, r.id, at)
	}
	carol := "@carol:" + testServer
	other.persist(core.PersistOptions{}, other.member("cj", 2, carol, "join"))
	one, err := s.LastJoin(ctx, other.id, carol)
	if err != nil {
		t.Fatal(err)
	}
	joins, err = s.LastJoins(ctx, []string{r.id, other.id}, carol)
	if err != nil || len(joins) != 1 || joins[other.id] != one {
		t.Errorf("LastJoins of carol = %+v, %v; want only %s at %+v", joins, err, other.id, one)
	}

	// StatesAt: the states of several groups in one read, like StateAt's.
	key := core.StateKey{Type: "m.room.member", StateKey: bob}
	groups := map[string]int64{}
	for _, name := range []string{"j1", "l1", "j2", "l2"} {
		g, err := s.StateGroupOf(ctx, eventID(name))
		if err != nil {
			t.Fatal(err)
		}
		groups[name] = g
	}
	list := []int64{groups["j1"], groups["l1"], groups["j2"], groups["l2"], groups["j1"]}
	states, err := s.StatesAt(ctx, list, core.StateKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range groups {
		one, err := s.StateAt(ctx, g, core.StateKeys(key))
		if err != nil {
			t.Fatal(err)
		}
		if states[g][key] != one[key] || one[key] != eventID(name) {
			t.Errorf("StatesAt[%s] = %v, StateAt = %v, want %s", name, states[g], one, eventID(name))
		}
	}
	if _, err := s.StatesAt(ctx, []int64{1 << 40}, core.StateKeys(key)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("StatesAt of an unknown group: %v", err)
	}
}
