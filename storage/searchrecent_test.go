package storage

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// TestSearchRecentPages pages through a room's matches newest first with
// pages of 1 to 6: live messages, an outlier that joined the timeline after
// newer messages (its rowid is old, its stream ordering the newest), one
// that stays an outlier, and backfilled messages (negative stream
// orderings). The pages together are every match once, in stream order.
func TestSearchRecentPages(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "recent")
	body := `{"msgtype":"m.text","body":"zebra crossing"}`
	late := withContent(r.msg("late", 3), "", body)
	out := late
	out.Outlier, out.StateGroup = true, 0
	stays := withContent(r.msg("stays", 4), "", body)
	stays.Outlier, stays.StateGroup = true, 0
	for i := range 6 {
		r.persist(core.PersistOptions{}, withContent(r.msg(fmt.Sprint("m", i), int64(10+i)), "", body))
		if i == 1 {
			r.persist(core.PersistOptions{}, out, stays)
		}
	}
	r.persist(core.PersistOptions{}, late)
	for i := range 3 {
		r.persist(core.PersistOptions{Backfilled: true}, withContent(r.msg(fmt.Sprint("b", i), int64(2-i)), "", body))
	}
	// Newest first: the late one, m5 to m0, then the backfilled b0 to b2.
	want := []string{"late", "m5", "m4", "m3", "m2", "m1", "m0", "b0", "b1", "b2"}
	all := append([]string{"stays"}, want...)
	for limit := 1; limit <= 6; limit++ {
		var got []string
		var before int64
		for range 20 {
			hits, err := s.SearchEvents(ctx, clientsync.SearchQuery{RoomIDs: []string{r.id}, Words: []string{"zebra"},
				Keys: []string{clientsync.KeyBody}, Recent: true, Before: before, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				got = append(got, h.Event.EventID)
			}
			if len(hits) < limit {
				break
			}
			before = hits[len(hits)-1].Event.StreamOrdering
		}
		if diff := cmp.Diff(want, names(got, all...)); diff != "" {
			t.Errorf("pages of %d (-want +got):\n%s", limit, diff)
		}
	}
}

// TestSearchBeforeJoinByMatch searches alice's history before her joins
// both ways (rooms listed first, or each match's room looked up): a room
// with text before her join, one she left, one she joined before any text.
// Both find the same events, and count the same.
func TestSearchBeforeJoinByMatch(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	alice := "@alice:" + testServer
	body := `{"msgtype":"m.text","body":"zebra crossing"}`
	setMember := func(r *testRoom, name string, depth int64, membership string) {
		ev := r.member(name, depth, alice, membership)
		r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
	}
	a, b, c := newTestRoom(t, s, "before a"), newTestRoom(t, s, "before b"), newTestRoom(t, s, "before c")
	a.persist(core.PersistOptions{}, withContent(a.msg("a0", 1), "", body), withContent(a.msg("a1", 2), "", body))
	setMember(a, "a join", 3, "join")
	a.persist(core.PersistOptions{}, withContent(a.msg("a2", 4), "", body))
	setMember(b, "b join", 1, "join")
	b.persist(core.PersistOptions{}, withContent(b.msg("b0", 2), "", body))
	setMember(b, "b leave", 3, "leave")
	b.persist(core.PersistOptions{}, withContent(b.msg("b1", 4), "", body))
	setMember(c, "c join", 1, "join")
	c.persist(core.PersistOptions{}, withContent(c.msg("c0", 2), "", body))
	all := []string{"a0", "a1", "a2", "b0", "b1", "c0"}
	want := []string{"b1", "b0", "a1", "a0"}
	for _, byMatch := range []bool{false, true} {
		q := clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeBeforeJoin, ByMatch: byMatch,
			Words: []string{"zebra"}, Keys: []string{clientsync.KeyBody}, Recent: true, Limit: 10}
		hits, err := s.SearchEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Event.EventID)
		}
		if diff := cmp.Diff(want, names(got, all...)); diff != "" {
			t.Errorf("ByMatch %v: hits (-want +got):\n%s", byMatch, diff)
		}
		if n, err := s.CountSearch(ctx, q, nil, 100); err != nil || n != len(want) {
			t.Errorf("ByMatch %v: CountSearch = %d, %v; want %d", byMatch, n, err, len(want))
		}
	}
}
