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
