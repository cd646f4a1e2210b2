package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"hearth.dev/hearth/core"
)

func TestPersistEventReadBack(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	a := r.msg("a", 1)
	a.InternalMetadata = []byte(`{"stream_ordering_hint":1}`)
	a.ContainsURL = true
	topic := r.state("topic", 2, "m.room.topic", "", `{"topic":"hi"}`, "a")
	so := r.persist(core.PersistOptions{}, a, topic)
	if so[0] != 1 || so[1] != 2 {
		t.Fatalf("stream orderings %v, want [1 2]", so)
	}

	got, err := s.Event(ctx, a.EventID)
	if err != nil {
		t.Fatal(err)
	}
	want := &core.StoredEvent{
		EventID: a.EventID, RoomID: r.id, RoomVersion: "12", Type: "m.room.message",
		Sender: a.Sender, Depth: 1, StreamOrdering: 1, OriginServerTS: a.OriginServerTS,
		ReceivedTS: a.ReceivedTS, StateGroup: r.base, JSON: a.JSON, FormatVersion: 2,
		InternalMetadata: a.InternalMetadata,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Event(a) mismatch (-want +got):\n%s", diff)
	}

	got, err = s.Event(ctx, topic.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if got.StateKey == nil || *got.StateKey != "" || got.Type != "m.room.topic" {
		t.Errorf("Event(topic) state key %v type %q, want \"\" m.room.topic", got.StateKey, got.Type)
	}
	if got.StateGroup == 0 || got.StateGroup == r.base {
		t.Errorf("Event(topic) state group %d, want a new group", got.StateGroup)
	}
	state, err := s.StateAtEvent(ctx, topic.EventID, core.AllState)
	if err != nil {
		t.Fatal(err)
	}
	wantState := core.StateMap{
		{Type: "m.room.create"}: eventID("r create"),
		{Type: "m.room.topic"}:  topic.EventID,
	}
	if diff := cmp.Diff(wantState, state); diff != "" {
		t.Errorf("StateAtEvent(topic) mismatch (-want +got):\n%s", diff)
	}
	if pos, err := s.StreamPosition(ctx); err != nil || pos != 2 {
		t.Errorf("StreamPosition = %d, %v; want 2", pos, err)
	}
}

func TestEventNotFound(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	r.persist(core.PersistOptions{}, r.msg("a", 1))

	_, err := s.Event(ctx, eventID("nope"))
	wantErrIs(t, "Event(unknown)", err, core.ErrNotFound)

	got, err := s.Events(ctx, eventIDs("a", "nope"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[eventID("a")] == nil {
		t.Errorf("Events(a, nope) = %v, want only a", got)
	}
	got, err = s.Events(ctx, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Events(nil) = %v, %v; want empty", got, err)
	}
}

func TestEventsManyIDs(t *testing.T) {
	// More IDs than one statement takes.
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	var evs []core.NewEvent
	var ids []string
	for i := range 1200 {
		name := "m" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		evs = append(evs, r.msg(name, int64(i+1)))
		ids = append(ids, eventID(name))
	}
	r.persist(core.PersistOptions{}, evs...)
	got, err := s.Events(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Errorf("Events(%d IDs) returned %d events", len(ids), len(got))
	}
}

func TestPersistIdempotent(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	a, b := r.msg("a", 1), r.msg("b", 2, "a")
	first := r.persist(core.PersistOptions{}, a, b)
	again := r.persist(core.PersistOptions{}, a, b)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second PersistEvents stream orderings differ (-first +second):\n%s", diff)
	}
	// Even as an outlier or backfilled, a stored non-outlier stays as it is.
	out := r.msg("b", 2, "a")
	out.Outlier = true
	if so := r.persist(core.PersistOptions{Backfilled: true}, out); so[0] != first[1] {
		t.Errorf("re-persisting b as an outlier gave stream ordering %d, want %d", so[0], first[1])
	}
	if pos, _ := s.StreamPosition(ctx); pos != 2 {
		t.Errorf("StreamPosition = %d after no-op persists, want 2", pos)
	}
	if got := r.forward("a", "b"); !cmp.Equal(got, []string{"b"}) {
		t.Errorf("forward extremities %v, want [b]", got)
	}
	ev, err := s.Event(ctx, b.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Outlier {
		t.Error("b became an outlier")
	}
	// An outlier persisted again as an outlier is a no-op too.
	o := r.msg("o", 5)
	o.Outlier = true
	o1 := r.persist(core.PersistOptions{}, o)
	o2 := r.persist(core.PersistOptions{}, o)
	if o1[0] != o2[0] {
		t.Errorf("outlier re-persisted: stream ordering %d then %d", o1[0], o2[0])
	}
}

func TestDeOutlier(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	a := r.msg("a", 1)
	r.persist(core.PersistOptions{}, a)
	b := r.msg("b", 2, "a")
	b.Outlier = true
	b.StateGroup = 0
	so := r.persist(core.PersistOptions{}, b)

	ev, err := s.Event(ctx, b.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Outlier || ev.StateGroup != 0 {
		t.Errorf("outlier b: Outlier=%v StateGroup=%d, want true 0", ev.Outlier, ev.StateGroup)
	}
	if got := r.forward("a", "b"); !cmp.Equal(got, []string{"a"}) {
		t.Errorf("forward extremities with outlier b: %v, want [a]", got)
	}
	if _, err := s.StateGroupOf(ctx, b.EventID); err == nil {
		t.Error("StateGroupOf(outlier) succeeded")
	} else {
		wantErrIs(t, "StateGroupOf(outlier)", err, core.ErrNotFound)
	}

	b.Outlier = false
	b.StateGroup = r.base
	so2 := r.persist(core.PersistOptions{}, b)
	if so2[0] <= so[0] {
		t.Errorf("de-outliered b has stream ordering %d, want more than its outlier one %d", so2[0], so[0])
	}
	ev, err = s.Event(ctx, b.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Outlier || ev.StateGroup != r.base || ev.StreamOrdering != so2[0] {
		t.Errorf("de-outliered b: Outlier=%v StateGroup=%d StreamOrdering=%d", ev.Outlier, ev.StateGroup, ev.StreamOrdering)
	}
	if got := r.forward("a", "b"); !cmp.Equal(got, []string{"b"}) {
		t.Errorf("forward extremities after de-outlier: %v, want [b]", got)
	}
}

func TestPersistErrors(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	r.persist(core.PersistOptions{}, r.msg("a", 1))
	rejected := r.state("bad", 2, "m.room.topic", "", `{}`, "a")
	rejected.Rejected = "auth"
	r.persist(core.PersistOptions{}, rejected)

	good := func() core.NewEvent { return r.msg("new", 3, "a") }
	tests := []struct {
		name string
		ev   func() core.NewEvent
		opts core.PersistOptions
		want error
	}{
		{"unknown room", func() core.NewEvent { e := good(); e.RoomID = "!nope"; return e }, core.PersistOptions{}, core.ErrNotFound},
		{"no state group", func() core.NewEvent { e := good(); e.StateGroup = 0; return e }, core.PersistOptions{}, core.ErrInvalidParam},
		{"unknown state group", func() core.NewEvent { e := good(); e.StateGroup = 999; return e }, core.PersistOptions{}, core.ErrNotFound},
		{"unknown prev state group", func() core.NewEvent {
			e := good()
			e.NewStateGroup = &core.StateGroupDelta{Prev: 999}
			return e
		}, core.PersistOptions{}, core.ErrNotFound},
		{"no JSON", func() core.NewEvent { e := good(); e.JSON = nil; return e }, core.PersistOptions{}, core.ErrInvalidParam},
		{"no ID", func() core.NewEvent { e := good(); e.EventID = ""; return e }, core.PersistOptions{}, core.ErrInvalidParam},
		{"member without membership", func() core.NewEvent {
			e := r.member("m", 3, "@bob:"+testServer, "join", "a")
			e.Membership = ""
			return e
		}, core.PersistOptions{}, core.ErrInvalidParam},
		{"out-of-band non-outlier", func() core.NewEvent {
			e := r.member("m", 3, "@bob:"+testServer, "invite", "a")
			e.OutOfBandMembership = true
			return e
		}, core.PersistOptions{}, core.ErrInvalidParam},
		{"state of unknown event", good, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
			RoomID: r.id, Changes: core.StateMap{{Type: "m.room.name"}: eventID("ghost")},
		}}}, core.ErrNotFound},
		{"rejected event as state", good, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
			RoomID: r.id, Changes: core.StateMap{{Type: "m.room.topic"}: rejected.EventID},
		}}}, core.ErrInvalidParam},
		{"state under the wrong key", good, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
			RoomID: r.id, Changes: core.StateMap{{Type: "m.room.name"}: eventID("a")},
		}}}, core.ErrInvalidParam},
		{"state of unknown room", good, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
			RoomID: "!nope", Changes: core.StateMap{},
		}}}, core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.StreamPosition(ctx)
			_, err := s.PersistEvents(ctx, []core.NewEvent{tt.ev()}, tt.opts)
			wantErrIs(t, "PersistEvents", err, tt.want)
			// Nothing of a failed batch is stored.
			if _, err := s.Event(ctx, eventID("new")); err == nil {
				t.Error("event of the failed batch was stored")
			}
			if after, _ := s.StreamPosition(ctx); after != before {
				t.Errorf("stream position moved from %d to %d", before, after)
			}
			if got := r.forward("a", "new"); !cmp.Equal(got, []string{"a"}) {
				t.Errorf("forward extremities %v, want [a]", got)
			}
		})
	}
}

func TestTxnID(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	other := newTestRoom(t, s, "other")
	txn := core.TxnID{UserID: "@alice:" + testServer, DeviceID: "DEV", TxnID: "t1"}
	a := r.msg("a", 1)
	a.Txn = &txn
	r.persist(core.PersistOptions{}, a)

	tests := []struct {
		name   string
		room   string
		txn    core.TxnID
		want   string
		wantEr error
	}{
		{"known", r.id, txn, a.EventID, nil},
		{"other txn", r.id, core.TxnID{UserID: txn.UserID, DeviceID: "DEV", TxnID: "t2"}, "", core.ErrNotFound},
		{"other device", r.id, core.TxnID{UserID: txn.UserID, DeviceID: "DEV2", TxnID: "t1"}, "", core.ErrNotFound},
		{"other room", other.id, txn, "", core.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.EventIDForTxn(ctx, tt.room, tt.txn)
			if tt.wantEr != nil {
				wantErrIs(t, "EventIDForTxn", err, tt.wantEr)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("EventIDForTxn = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// A second event with the same transaction is refused.
	dup := r.msg("dup", 2, "a")
	dup.Txn = &txn
	_, err := s.PersistEvents(ctx, []core.NewEvent{dup}, core.PersistOptions{})
	wantErrIs(t, "PersistEvents(used transaction)", err, core.ErrTxnUsed)
	if _, err := s.Event(ctx, dup.EventID); err == nil {
		t.Error("event with a used transaction was stored")
	}
	// Persisting the first event again is still a no-op.
	r.persist(core.PersistOptions{}, a)

	// The same transaction may be used once per room.
	b := other.msg("b", 1)
	b.Txn = &txn
	other.persist(core.PersistOptions{}, b)
	if got, err := s.EventIDForTxn(ctx, other.id, txn); err != nil || got != b.EventID {
		t.Errorf("EventIDForTxn(other room) = %q, %v; want %q", got, err, b.EventID)
	}
}

func TestRedactions(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	// The redaction arrives before its target.
	red := r.msg("red", 2, "a")
	red.Type = "m.room.redaction"
	red.Redacts = eventID("a")
	bad := r.msg("bad", 2, "a")
	bad.Type = "m.room.redaction"
	bad.Redacts = eventID("a")
	bad.Rejected = "not allowed"
	r.persist(core.PersistOptions{}, red, bad, r.msg("a", 1))

	ev, err := s.Event(ctx, eventID("a"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{red.EventID}, ev.RedactedBy); diff != "" {
		t.Errorf("RedactedBy mismatch (-want +got):\n%s", diff)
	}
	ev, err = s.Event(ctx, red.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.RedactedBy) != 0 {
		t.Errorf("redaction itself RedactedBy = %v, want none", ev.RedactedBy)
	}
}

// The client transaction of an event is stored once, in event_txn_id: the
// JSON row keeps only the rest of the internal metadata, and reading the
// event puts the transaction back.
func TestTxnMetadataStoredOnce(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	txn := core.TxnID{UserID: "@alice:" + testServer, DeviceID: "DEV", TxnID: "t1"}
	a := r.msg("a", 1)
	a.Txn = &txn
	a.InternalMetadata = []byte(`{"txn_id":"t1","device_id":"DEV","replaces_state":"$x"}`)
	b := r.msg("b", 2, "a")
	b.Txn = &core.TxnID{UserID: txn.UserID, DeviceID: "DEV", TxnID: "t2"}
	b.InternalMetadata = []byte(`{"txn_id":"t2","device_id":"DEV"}`)
	c := r.msg("c", 3, "b")
	c.InternalMetadata = []byte(`{"replaces_state":"$y"}`)
	r.persist(core.PersistOptions{}, a, b, c)

	stored := eventJSONColumn[sql.NullString](t, s.db, "internal_metadata")
	wantStored := map[string]sql.NullString{
		a.EventID: {String: `{"replaces_state":"$x"}`, Valid: true},
		b.EventID: {},
		c.EventID: {String: `{"replaces_state":"$y"}`, Valid: true},
	}
	for id, want := range wantStored {
		if stored[id] != want {
			t.Errorf("stored metadata of %s = %v, want %v", id, stored[id], want)
		}
	}

	got, err := s.Events(ctx, []string{a.EventID, b.EventID, c.EventID})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []core.NewEvent{a, b, c} {
		var want, have map[string]string
		if err := json.Unmarshal(ev.InternalMetadata, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got[ev.EventID].InternalMetadata, &have); err != nil {
			t.Fatalf("metadata of %s read back as %q: %v", ev.EventID, got[ev.EventID].InternalMetadata, err)
		}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("metadata of %s read back (-want +got):\n%s", ev.EventID, diff)
		}
	}
}

// TestBuiltEvents stores events marked Built (a local send's): their rows
// find their room as they are inserted, they join the DAG as any other
// event (extremities, transaction, state group), an unknown room is
// core.ErrNotFound with nothing stored, and a Built event stored already
// is refused rather than taken for a repeat.
func TestBuiltEvents(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	r.persist(core.PersistOptions{}, r.msg("a", 1))

	txn := core.TxnID{UserID: "@alice:" + testServer, DeviceID: "DEV", TxnID: "t1"}
	b := r.msg("b", 2, "a")
	b.Built, b.Txn = true, &txn
	c := r.state("c", 3, "m.room.topic", "", `{"topic":"built"}`, "b")
	c.Built = true
	so := r.persist(core.PersistOptions{}, b)
	so = append(so, r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{
		{RoomID: r.id, Changes: core.StateMap{{Type: "m.room.topic"}: c.EventID}}}}, c)...)
	if so[0] <= 0 || so[1] != so[0]+1 {
		t.Errorf("stream orderings %v, want two in a row", so)
	}
	if got := r.forward("a", "b", "c"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("forward extremities %v, want [c]", got)
	}
	if got := r.backward("a", "b", "c"); len(got) != 0 {
		t.Errorf("backward extremities %v, want none", got)
	}
	if id, err := s.EventIDForTxn(ctx, r.id, txn); err != nil || id != b.EventID {
		t.Errorf("EventIDForTxn = %q, %v; want %s", id, err, b.EventID)
	}
	for _, ev := range []core.NewEvent{b, c} {
		got, err := s.Event(ctx, ev.EventID)
		if err != nil || got.RoomID != r.id {
			t.Errorf("Event(%s) = %+v, %v", ev.EventID, got, err)
		}
	}

	// A room the database does not know.
	lost := r.msg("lost", 4, "c")
	lost.RoomID, lost.Built = "!nowhere:"+testServer, true
	lost.JSON = eventJSON(&lost, `{"body":"lost","msgtype":"m.text"}`)
	_, err := s.PersistEvents(ctx, []core.NewEvent{lost}, core.PersistOptions{})
	wantErrIs(t, "PersistEvents(Built, unknown room)", err, core.ErrNotFound)
	if _, err := s.Event(ctx, lost.EventID); err == nil {
		t.Error("an event of an unknown room was stored")
	}

	// Built again: refused, and the stored event is unchanged.
	again := b
	again.Txn = nil
	if _, err := s.PersistEvents(ctx, []core.NewEvent{again}, core.PersistOptions{}); err == nil {
		t.Error("a Built event stored already was accepted")
	}
	if got := r.forward("a", "b", "c"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("after the refused repeat: forward extremities %v, want [c]", got)
	}
}
