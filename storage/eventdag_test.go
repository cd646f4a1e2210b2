package storage

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"hearth.dev/hearth/core"
)

// dagStep persists one batch of events described compactly.
type dagStep struct {
	name  string
	prevs []string
	depth int64
	kind  string // "", "outlier", "rejected", "softfailed"
}

func TestExtremities(t *testing.T) {
	tests := []struct {
		name         string
		steps        []dagStep
		wantForward  []string
		wantBackward []string
	}{
		{
			name:        "linear",
			steps:       []dagStep{{name: "a", depth: 1}, {name: "b", prevs: []string{"a"}, depth: 2}, {name: "c", prevs: []string{"b"}, depth: 3}},
			wantForward: []string{"c"},
		},
		{
			name: "fork",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "b", prevs: []string{"a"}, depth: 2},
				{name: "c", prevs: []string{"a"}, depth: 2},
			},
			wantForward: []string{"b", "c"},
		},
		{
			name: "merge",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "b", prevs: []string{"a"}, depth: 2},
				{name: "c", prevs: []string{"a"}, depth: 2},
				{name: "d", prevs: []string{"b", "c"}, depth: 3},
			},
			wantForward: []string{"d"},
		},
		{
			name: "partial merge of three branches",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "b", prevs: []string{"a"}, depth: 2},
				{name: "c", prevs: []string{"a"}, depth: 2},
				{name: "x", prevs: []string{"a"}, depth: 2},
				{name: "d", prevs: []string{"b", "c"}, depth: 3},
			},
			wantForward: []string{"d", "x"},
		},
		{
			name: "child before parent",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "c", prevs: []string{"b"}, depth: 3},
			},
			wantForward:  []string{"a", "c"},
			wantBackward: []string{"b"},
		},
		{
			name: "missing parent arrives",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "c", prevs: []string{"b"}, depth: 3},
				{name: "b", prevs: []string{"a"}, depth: 2},
			},
			wantForward: []string{"c"},
		},
		{
			name: "rejected event is no extremity",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "r", prevs: []string{"a", "unknown"}, depth: 2, kind: "rejected"},
			},
			wantForward: []string{"a"},
		},
		{
			name: "soft-failed event is no extremity",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "s", prevs: []string{"a"}, depth: 2, kind: "softfailed"},
			},
			wantForward: []string{"a"},
		},
		{
			name: "parent of only a soft-failed event becomes an extremity",
			steps: []dagStep{
				{name: "s", prevs: []string{"p"}, depth: 2, kind: "softfailed"},
				{name: "p", depth: 1},
			},
			wantForward: []string{"p"},
		},
		{
			name: "parent of a counted and a soft-failed event",
			steps: []dagStep{
				{name: "s", prevs: []string{"p"}, depth: 2, kind: "softfailed"},
				{name: "c", prevs: []string{"p"}, depth: 2},
				{name: "p", depth: 1},
			},
			wantForward: []string{"c"},
		},
		{
			name: "parent of a rejected event becomes an extremity",
			steps: []dagStep{
				{name: "r", prevs: []string{"p"}, depth: 2, kind: "rejected"},
				{name: "p", depth: 1},
			},
			wantForward: []string{"p"},
		},
		{
			name: "outliers get no extremities",
			steps: []dagStep{
				{name: "a", depth: 1},
				{name: "o", prevs: []string{"a", "unknown"}, depth: 2, kind: "outlier"},
			},
			wantForward: []string{"a"},
		},
		{
			name: "prev stored as outlier is a backward extremity",
			steps: []dagStep{
				{name: "o", depth: 1, kind: "outlier"},
				{name: "b", prevs: []string{"o"}, depth: 2},
			},
			wantForward:  []string{"b"},
			wantBackward: []string{"o"},
		},
		{
			name: "de-outliered prev leaves the backward extremities",
			steps: []dagStep{
				{name: "o", depth: 1, kind: "outlier"},
				{name: "b", prevs: []string{"o"}, depth: 2},
				{name: "o", depth: 1},
			},
			wantForward: []string{"b"},
		},
		{
			name: "two branches into the unknown",
			steps: []dagStep{
				{name: "c", prevs: []string{"x", "y"}, depth: 5},
				{name: "d", prevs: []string{"y", "z"}, depth: 5},
			},
			wantForward:  []string{"c", "d"},
			wantBackward: []string{"x", "y", "z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			r := newTestRoom(t, s, "r")
			all := map[string]bool{}
			for _, st := range tt.steps {
				all[st.name] = true
				for _, p := range st.prevs {
					all[p] = true
				}
				ev := r.msg(st.name, st.depth, st.prevs...)
				switch st.kind {
				case "outlier":
					ev.Outlier = true
				case "rejected":
					ev.Rejected = "auth"
				case "softfailed":
					ev.SoftFailed = true
				}
				r.persist(core.PersistOptions{}, ev)
			}
			candidates := slices.Sorted(func(yield func(string) bool) {
				for n := range all {
					if !yield(n) {
						return
					}
				}
			})
			if got := r.forward(candidates...); !cmp.Equal(got, tt.wantForward, cmpEmpty) {
				t.Errorf("forward extremities %v, want %v", got, tt.wantForward)
			}
			if got := r.backward(candidates...); !cmp.Equal(got, tt.wantBackward, cmpEmpty) {
				t.Errorf("backward extremities %v, want %v", got, tt.wantBackward)
			}
		})
	}
}

// cmpEmpty makes nil and empty slices equal.
var cmpEmpty = cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })

// TestExtremitiesBatchOrder checks that a batch gives the same extremities
// whatever the order of its events.
func TestExtremitiesBatchOrder(t *testing.T) {
	for _, order := range [][]string{{"a", "b", "c", "d"}, {"d", "c", "b", "a"}, {"b", "d", "a", "c"}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			s := newTestStore(t)
			r := newTestRoom(t, s, "r")
			dag := map[string]core.NewEvent{
				"a": r.msg("a", 1),
				"b": r.msg("b", 2, "a"),
				"c": r.msg("c", 2, "a"),
				"d": r.msg("d", 3, "b"),
			}
			var batch []core.NewEvent
			for _, n := range order {
				batch = append(batch, dag[n])
			}
			r.persist(core.PersistOptions{}, batch...)
			if got := r.forward("a", "b", "c", "d"); !cmp.Equal(got, []string{"c", "d"}) {
				t.Errorf("forward extremities %v, want [c d]", got)
			}
			if got := r.backward("a", "b", "c", "d"); len(got) != 0 {
				t.Errorf("backward extremities %v, want none", got)
			}
		})
	}
}

func TestForwardExtremitiesLimit(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	r.persist(core.PersistOptions{}, r.msg("root", 1))
	// 12 branches; two share depth 9 (the later stream ordering wins).
	depths := []int64{5, 3, 9, 2, 7, 4, 9, 6, 8, 2, 10, 3}
	for i, d := range depths {
		r.persist(core.PersistOptions{}, r.msg(fmt.Sprint("leaf", i), d, "root"))
	}
	refs, err := s.ForwardExtremities(ctx, r.id, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ref := range refs {
		got = append(got, fmt.Sprintf("%s@%d", names([]string{ref.EventID}, "leaf0", "leaf1", "leaf2", "leaf3", "leaf4", "leaf5", "leaf6", "leaf7", "leaf8", "leaf9", "leaf10", "leaf11")[0], ref.Depth))
	}
	want := []string{"leaf10@10", "leaf6@9", "leaf2@9", "leaf8@8", "leaf4@7", "leaf7@6", "leaf0@5", "leaf5@4", "leaf11@3", "leaf1@3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ForwardExtremities(10) mismatch (-want +got):\n%s", diff)
	}
	all, err := s.ForwardExtremities(ctx, r.id, 0)
	if err != nil || len(all) != 12 {
		t.Errorf("ForwardExtremities(0) = %d refs, %v; want 12", len(all), err)
	}
	_, err = s.ForwardExtremities(ctx, "!nope", 10)
	wantErrIs(t, "ForwardExtremities(unknown room)", err, core.ErrNotFound)
	_, err = s.BackwardExtremities(ctx, "!nope")
	wantErrIs(t, "BackwardExtremities(unknown room)", err, core.ErrNotFound)
}

func TestBackfill(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "r")
	// We joined late: the live timeline starts at depth 10 and refers to
	// history we do not have.
	live := r.persist(core.PersistOptions{},
		r.msg("e10", 10, "e9"), r.msg("e11", 11, "e10"), r.msg("e12", 12, "e11"))
	if got := r.backward("e9"); !cmp.Equal(got, []string{"e9"}) {
		t.Fatalf("backward extremities %v, want [e9]", got)
	}
	// Backfill returns the history newest first.
	back := r.persist(core.PersistOptions{Backfilled: true},
		r.msg("e9", 9, "e8"), r.msg("e8", 8, "e7"))
	for i, so := range back {
		if so >= 0 {
			t.Errorf("backfilled stream ordering %d is not negative", so)
		}
		if i > 0 && so >= back[i-1] {
			t.Errorf("backfilled stream orderings %v do not decrease", back)
		}
	}
	if back[0] != -1 || back[1] != -2 {
		t.Errorf("backfilled stream orderings %v, want [-1 -2]", back)
	}
	if got := r.backward("e7"); !cmp.Equal(got, []string{"e7"}) {
		t.Errorf("backward extremities after backfill %v, want [e7]", got)
	}
	if got := r.forward("e8", "e9", "e12"); !cmp.Equal(got, []string{"e12"}) {
		t.Errorf("forward extremities after backfill %v, want [e12]", got)
	}
	// A second backfill continues downward; live events continue upward.
	more := r.persist(core.PersistOptions{Backfilled: true}, r.msg("e7", 7))
	next := r.persist(core.PersistOptions{}, r.msg("e13", 13, "e12"))
	if more[0] != -3 || next[0] != live[2]+1 {
		t.Errorf("then backfill got %d (want -3), live got %d (want %d)", more[0], next[0], live[2]+1)
	}
	if got := r.backward(); len(got) != 0 {
		t.Errorf("backward extremities after reaching the start: %v", got)
	}
	if pos, _ := s.StreamPosition(ctx); pos != next[0] {
		t.Errorf("StreamPosition %d, want %d", pos, next[0])
	}
	// /sync never sees backfilled events; /messages orders them by depth.
	stream, err := s.RoomEventsStream(ctx, []string{r.id}, 0, next[0], core.Forward, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := streamNames(stream[r.id]); !cmp.Equal(got, []string{"e10", "e11", "e12", "e13"}) {
		t.Errorf("stream read %v, want e10..e13", got)
	}
	topo, _, err := s.RoomEventsTopological(ctx, r.id, core.TopologicalEnd, core.TopologicalStart, core.Backward, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := streamNames(topo); !cmp.Equal(got, []string{"e13", "e12", "e11", "e10", "e9", "e8", "e7"}) {
		t.Errorf("topological read %v, want e13..e7", got)
	}
}

// streamNames maps events to their test names (names of the form eN,
// leafN, mN or single letters).
func streamNames(evs []*core.StoredEvent) []string {
	var cands []string
	for i := range 200 {
		cands = append(cands, fmt.Sprint("e", i), fmt.Sprint("m", i))
	}
	for c := 'a'; c <= 'z'; c++ {
		cands = append(cands, string(c))
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.EventID
	}
	return names(ids, cands...)
}
