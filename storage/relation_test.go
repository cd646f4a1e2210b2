package storage

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// withContent returns ev with another content (and sender when set).
func withContent(ev core.NewEvent, sender, content string) core.NewEvent {
	if sender != "" {
		ev.Sender = sender
	}
	ev.JSON = eventJSON(&ev, content)
	return ev
}

func relatesTo(rel, parent, extra string) string {
	return `{"body":"child","msgtype":"m.text"` + extra + `,"m.relates_to":{"rel_type":"` + rel + `","event_id":"` + eventID(parent) + `"}}`
}

func relIDs(evs []*core.StoredEvent, candidates ...string) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.EventID
	}
	return names(ids, candidates...)
}

func TestRelations(t *testing.T) {
	s := newTestStore(t)
	r := newTestRoom(t, s, "rel")
	bob := "@bob:" + testServer
	r.persist(core.PersistOptions{},
		r.msg("root", 1),
		withContent(r.msg("t1", 2, "root"), "", relatesTo("m.thread", "root", "")),
		withContent(r.msg("t2", 3, "t1"), bob, relatesTo("m.thread", "root", "")),
		withContent(r.msg("edit1", 4, "t2"), "", relatesTo("m.replace", "root", `,"m.new_content":{"body":"e1"}`)),
		withContent(r.msg("edit2", 5, "edit1"), "", relatesTo("m.replace", "root", `,"m.new_content":{"body":"e2"}`)),
		// Invalid edits: another sender; no m.new_content.
		withContent(r.msg("edit3", 6, "edit2"), bob, relatesTo("m.replace", "root", `,"m.new_content":{"body":"e3"}`)),
		withContent(r.msg("edit4", 7, "edit3"), "", relatesTo("m.replace", "root", "")),
		withContent(r.msg("ref1", 8, "edit4"), "", relatesTo("m.reference", "root", "")),
		withContent(r.msg("ann", 9, "ref1"), "", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"`+eventID("root")+`","key":"👍"}}`),
		withContent(r.msg("deep", 10, "ann"), "", relatesTo("m.reference", "t1", "")),
		// Malformed relations are not indexed.
		withContent(r.msg("bad", 11, "deep"), "", `{"m.relates_to":{"rel_type":5,"event_id":"`+eventID("root")+`"}}`),
	)
	all := []string{"root", "t1", "t2", "edit1", "edit2", "edit3", "edit4", "ref1", "ann", "deep", "bad"}
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		q    clientsync.RelationQuery
		want []string
	}{
		{"all direct, newest first", clientsync.RelationQuery{Dir: core.Backward, Depth: 1, Limit: 50}, []string{"ann", "ref1", "edit4", "edit3", "edit2", "edit1", "t2", "t1"}},
		{"forward", clientsync.RelationQuery{Dir: core.Forward, Depth: 1, Limit: 3}, []string{"t1", "t2", "edit1"}},
		{"by rel type", clientsync.RelationQuery{RelType: "m.thread", Dir: core.Backward, Depth: 1, Limit: 50}, []string{"t2", "t1"}},
		{"by rel and event type", clientsync.RelationQuery{RelType: "m.annotation", EventType: "m.room.message", Dir: core.Backward, Depth: 1, Limit: 50}, []string{"ann"}},
		{"by event type, none", clientsync.RelationQuery{RelType: "m.annotation", EventType: "m.reaction", Dir: core.Backward, Depth: 1, Limit: 50}, []string{}},
		{"recursive", clientsync.RelationQuery{RelType: "m.reference", Dir: core.Backward, Depth: 3, Limit: 50}, []string{"deep", "ref1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.RoomID, q.ParentID = r.id, eventID("root")
			q.From, q.To = core.TopologicalEnd, core.TopologicalStart
			if q.Dir == core.Forward {
				q.From, q.To = core.TopologicalStart, core.TopologicalEnd
			}
			got, err := s.Relations(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, relIDs(got, all...)); diff != "" {
				t.Errorf("Relations (-want +got):\n%s", diff)
			}
		})
	}

	aggs, err := s.Aggregations(ctx, []string{eventID("root"), eventID("t1"), eventID("edit1")}, bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*clientsync.Aggregation{
		eventID("root"): {ThreadCount: 2, ThreadLatest: eventID("t2"), ThreadParticipated: true, Edit: eventID("edit2"), References: []string{eventID("ref1")}},
		eventID("t1"):   {References: []string{eventID("deep")}},
	}
	if diff := cmp.Diff(want, aggs); diff != "" {
		t.Errorf("Aggregations (-want +got):\n%s", diff)
	}
	// Ignoring bob takes his thread event out of the count.
	aggs, err = s.Aggregations(ctx, []string{eventID("root")}, "@carol:"+testServer, []string{bob})
	if err != nil {
		t.Fatal(err)
	}
	if a := aggs[eventID("root")]; a == nil || a.ThreadCount != 1 || a.ThreadLatest != eventID("t1") || a.ThreadParticipated {
		t.Errorf("Aggregations ignoring bob = %+v, want one thread event t1, not participated", a)
	}

	// A redacted child stops counting.
	red := r.msg("redact-t2", 12, "bad")
	red.Type = "m.room.redaction"
	red.Redacts = eventID("t2")
	red.JSON = eventJSON(&red, `{"redacts":"`+eventID("t2")+`"}`)
	r.persist(core.PersistOptions{}, red)
	aggs, err = s.Aggregations(ctx, []string{eventID("root")}, bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := aggs[eventID("root")]; a == nil || a.ThreadCount != 1 || a.ThreadLatest != eventID("t1") {
		t.Errorf("Aggregations after redacting t2 = %+v, want one thread event t1", a)
	}

	threads, err := s.Threads(ctx, r.id, bob, false, core.TopologicalEnd, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != 1 || threads[0].EventID != eventID("root") {
		t.Errorf("Threads = %+v, want the root", threads)
	}
	threads, err = s.Threads(ctx, r.id, "@carol:"+testServer, true, core.TopologicalEnd, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != 0 {
		t.Errorf("Threads participated by carol = %+v, want none", threads)
	}
	if _, err := s.Relations(ctx, clientsync.RelationQuery{RoomID: "!nope:x", ParentID: "$x", Limit: 1}); err == nil {
		t.Error("Relations of an unknown room: no error")
	}
}

func TestEventsNearTimestamp(t *testing.T) {
	s := newTestStore(t)
	r := newTestRoom(t, s, "ts")
	r.persist(core.PersistOptions{}, r.msg("a", 10), r.msg("b", 20, "a"), r.msg("c", 30, "b"))
	ctx := context.Background()
	base := int64(1_700_000_000_000)
	for _, tc := range []struct {
		ts   int64
		dir  core.Direction
		want []string
	}{
		{base + 15, core.Forward, []string{"b", "c"}},
		{base + 20, core.Forward, []string{"b", "c"}},
		{base + 15, core.Backward, []string{"a"}},
		{base + 31, core.Forward, []string{}},
		{base + 5, core.Backward, []string{}},
	} {
		got, err := s.EventsNearTimestamp(ctx, r.id, tc.ts, tc.dir, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, relIDs(got, "a", "b", "c")); diff != "" {
			t.Errorf("EventsNearTimestamp(%d, %v) (-want +got):\n%s", tc.ts, tc.dir, diff)
		}
	}
}
