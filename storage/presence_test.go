package storage

import (
	"context"
	"slices"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

func TestPresence(t *testing.T) {
	ctx := context.Background()
	es := newTestStore(t)
	s := NewPresenceStore(es.db)
	now := time.UnixMilli(1_700_000_000_000)
	s.Now = func() time.Time { return now }

	_, err := s.Presence(ctx, alice)
	wantErrIs(t, "never set", err, core.ErrNotFound)
	wantErrIs(t, "bad state", s.SetPresence(ctx, alice, "busy", nil), core.ErrInvalidParam)

	msg := "lunch"
	if err := s.SetPresence(ctx, alice, core.PresenceUnavailable, &msg); err != nil {
		t.Fatal(err)
	}
	p, err := s.Presence(ctx, alice)
	if err != nil || p.Presence != core.PresenceUnavailable || p.StatusMsg == nil || *p.StatusMsg != "lunch" || p.LastActiveTS != now.UnixMilli() {
		t.Fatalf("Presence = %+v, %v", p, err)
	}
	pos := func() int64 {
		t.Helper()
		p, err := s.PresencePosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := pos()

	steps := []struct {
		name    string
		advance time.Duration
		state   string
		newPos  bool // a visible change
		want    string
	}{
		{"offline sync changes nothing", 0, core.PresenceOffline, false, core.PresenceUnavailable},
		{"unavailable again", 0, core.PresenceUnavailable, false, core.PresenceUnavailable},
		{"online", time.Second, core.PresenceOnline, true, core.PresenceOnline},
		{"online soon after", 10 * time.Second, core.PresenceOnline, false, core.PresenceOnline},
		{"online a while later refreshes activity", 2 * time.Minute, core.PresenceOnline, false, core.PresenceOnline},
		{"back from idle", 10 * time.Minute, core.PresenceOnline, true, core.PresenceOnline},
	}
	last := p1
	for _, st := range steps {
		now = now.Add(st.advance)
		if err := s.SyncPresence(ctx, alice, st.state); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		p, _ := s.Presence(ctx, alice)
		if p.Presence != st.want || p.StatusMsg == nil || *p.StatusMsg != "lunch" {
			t.Errorf("%s: presence %+v", st.name, p)
		}
		if got := pos(); (got != last) != st.newPos {
			t.Errorf("%s: position %d -> %d, want new: %v", st.name, last, got, st.newPos)
		}
		last = pos()
		if st.state == core.PresenceOnline && p.LastActiveTS < now.Add(-time.Minute).UnixMilli() {
			t.Errorf("%s: last active %d not refreshed (now %d)", st.name, p.LastActiveTS, now.UnixMilli())
		}
	}
	// Shown state: idle after IdleAfter.
	p, _ = s.Presence(ctx, alice)
	if st, active := p.Shown(now.Add(core.IdleAfter + time.Second)); st != core.PresenceUnavailable || active {
		t.Errorf("idle shown as %s, %v", st, active)
	}
	if st, active := p.Shown(now); st != core.PresenceOnline || !active {
		t.Errorf("active shown as %s, %v", st, active)
	}
}

func TestPresenceChanges(t *testing.T) {
	ctx := context.Background()
	es := newTestStore(t)
	s := NewPresenceStore(es.db)
	r := newTestRoom(t, es, "shared")
	const carol = "@carol:elsewhere.example"
	ja := r.member("join alice", 1, alice, "join")
	ja.PrevEvents = nil
	jc := r.member("join carol", 2, carol, "join", "join alice")
	r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id, Changes: core.StateMap{
		{Type: "m.room.member", StateKey: alice}: ja.EventID,
		{Type: "m.room.member", StateKey: carol}: jc.EventID,
	}}}}, ja, jc)

	for _, u := range []string{alice, carol, "@dave:elsewhere.example"} {
		if err := s.SetPresence(ctx, u, core.PresenceOnline, nil); err != nil {
			t.Fatal(err)
		}
	}
	end, _ := s.PresencePosition(ctx)
	got, err := s.PresenceChanges(ctx, alice, 0, end)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, p := range got {
		users = append(users, p.UserID)
	}
	slices.Sort(users)
	if !slices.Equal(users, []string{alice, carol}) {
		t.Errorf("alice sees presence of %v, want herself and carol", users)
	}
	got, _ = s.PresenceChanges(ctx, alice, end-1, end)
	if len(got) != 0 {
		t.Errorf("dave's change is visible to alice: %+v", got)
	}
}
