package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"hearth.dev/hearth/core"
)

// authDAG is a random auth DAG of one room: forks (two events extending
// the same key from the same parent), rejected events, message events,
// events citing an auth event that is never stored, and auth events that
// arrive after the events citing them.
type authDAG struct {
	order   []string            // event IDs in creation order
	auth    map[string][]string // auth events of each event
	state   map[string]bool     // state events (the indexed ones)
	missing map[string]bool     // events cited but never stored
	evs     map[string]core.NewEvent
}

func newAuthDAG(r *testRoom, rng *rand.Rand, n int) *authDAG {
	d := &authDAG{auth: map[string][]string{}, state: map[string]bool{}, missing: map[string]bool{},
		evs: map[string]core.NewEvent{}}
	keys := []string{"m.room.power_levels/", "m.room.join_rules/", "m.room.member/@a", "m.room.member/@b",
		"m.room.member/@c", "m.room.member/@d", "m.room.third_party_invite/x"}
	byKey := map[string][]string{}
	tainted := map[string]bool{} // not indexable: a message, or reaching one or a missing event
	add := func(name, typ string, stateKey *string, auth []string, rejected bool) {
		id := eventID(fmt.Sprintf("%s %s", r.id, name))
		auth = slices.Clone(auth)
		ev := core.NewEvent{EventID: id, RoomID: r.id, Type: typ, StateKey: stateKey, Sender: "@a:" + testServer,
			Depth: int64(len(d.order) + 1), Outlier: true, FormatVersion: 2}
		if typ == "m.room.member" {
			ev.Membership = "join"
		}
		if rejected {
			ev.Rejected = "auth"
		}
		// Half the events carry their auth events, half leave storage to
		// read them from the JSON.
		if rng.IntN(2) == 0 {
			ev.AuthEvents = auth
		}
		ev.JSON, _ = json.Marshal(map[string]any{"type": typ, "state_key": stateKey, "auth_events": auth, "room_id": r.id})
		d.order = append(d.order, id)
		d.auth[id] = auth
		d.state[id] = stateKey != nil
		d.evs[id] = ev
		if _, complete := d.walk([]string{id}); !complete {
			tainted[id] = true
		}
	}
	empty := ""
	add("create", "m.room.create", &empty, nil, false)
	byKey["m.room.create/"] = []string{d.order[0]}
	for i := 1; i < n; i++ {
		var auth []string
		for range 1 + rng.IntN(3) {
			// Mostly state events, as auth events are; now and then a
			// message, which makes the event (and those citing it)
			// unindexable.
			a := d.order[rng.IntN(len(d.order))]
			for tainted[a] && rng.IntN(40) != 0 {
				a = d.order[rng.IntN(len(d.order))]
			}
			auth = append(auth, a)
		}
		auth = append(auth, d.order[0])
		if rng.IntN(60) == 0 {
			ghost := eventID(fmt.Sprintf("%s ghost %d", r.id, i))
			d.missing[ghost] = true
			tainted[ghost] = true
			auth = append(auth, ghost)
		}
		if rng.IntN(6) == 0 {
			add(fmt.Sprint("msg", i), "m.room.message", nil, auth, false)
			continue
		}
		key := keys[rng.IntN(len(keys))]
		if prev := byKey[key]; len(prev) > 0 {
			// Usually the key's newest event, sometimes an older one: a fork.
			p := prev[len(prev)-1]
			if rng.IntN(4) == 0 {
				p = prev[rng.IntN(len(prev))]
			}
			auth = append(auth, p)
		}
		typ, sk, _ := cutKey(key)
		add(fmt.Sprint("ev", i), typ, &sk, auth, rng.IntN(8) == 0)
		byKey[key] = append(byKey[key], d.order[len(d.order)-1])
	}
	return d
}

func cutKey(key string) (string, string, bool) {
	for i := range key {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// walk is the auth chain of ids by walking auth events (ids left out
// unless reached from another), and whether every event on the way is
// stored.
func (d *authDAG) walk(ids []string) (map[string]bool, bool) {
	seen := map[string]bool{}
	complete := true
	stack := []string{}
	for _, id := range ids {
		stack = append(stack, d.auth[id]...)
		if d.missing[id] || !d.state[id] {
			complete = false
		}
	}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[id] {
			continue
		}
		seen[id] = true
		if d.missing[id] || !d.state[id] {
			complete = false
		}
		stack = append(stack, d.auth[id]...)
	}
	return seen, complete
}

// persistShuffled stores the events in random batches of a random order, so
// that many arrive before their auth events.
func (d *authDAG) persistShuffled(r *testRoom, rng *rand.Rand) {
	ids := slices.Clone(d.order)
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for len(ids) > 0 {
		k := min(len(ids), 1+rng.IntN(8))
		batch := make([]core.NewEvent, k)
		for i, id := range ids[:k] {
			batch[i] = d.evs[id]
		}
		r.persist(core.PersistOptions{}, batch...)
		ids = ids[k:]
	}
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkIndex compares the index with walking, for single events, random
// sets of events, and the auth difference of random state sets.
func (d *authDAG) checkIndex(t *testing.T, s *EventStore, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	answered := 0
	for _, id := range d.order {
		want, complete := d.walk([]string{id})
		got, ok, err := s.AuthChain(ctx, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		if ok != complete {
			t.Fatalf("AuthChain(%s) ok = %v, want %v (state %v)", id, ok, complete, d.state[id])
		}
		if !ok {
			continue
		}
		answered++
		slices.Sort(got)
		if diff := cmp.Diff(keysOf(want), got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("AuthChain(%s) (-walked +index):\n%s", id, diff)
		}
	}
	if answered < len(d.order)/8 {
		t.Fatalf("the index answered for %d of %d events", answered, len(d.order))
	}
	var indexed []string
	for _, id := range d.order {
		if _, complete := d.walk([]string{id}); complete {
			indexed = append(indexed, id)
		}
	}
	pick := func() []string {
		var out []string
		for range 1 + rng.IntN(6) {
			out = append(out, indexed[rng.IntN(len(indexed))])
		}
		return out
	}
	for range 30 {
		ids := pick()
		want, _ := d.walk(ids)
		got, ok, err := s.AuthChain(ctx, ids)
		if err != nil || !ok {
			t.Fatalf("AuthChain(%v) = ok %v, %v", ids, ok, err)
		}
		slices.Sort(got)
		if diff := cmp.Diff(keysOf(want), got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("AuthChain(%v) (-walked +index):\n%s", ids, diff)
		}

		sets := make([]core.AuthChainSet, 2+rng.IntN(2))
		chains := make([]map[string]bool, len(sets))
		for i := range sets {
			sets[i].Events = pick()
			chains[i], _ = d.walk(sets[i].Events)
			if rng.IntN(2) == 0 {
				// An event not stored yet, given by its auth events.
				sets[i].Chain = pick()
				more, _ := d.walk(sets[i].Chain)
				for _, id := range sets[i].Chain {
					more[id] = true
				}
				maps.Copy(chains[i], more)
			}
		}
		wantDiff := map[string]bool{}
		for _, c := range chains {
			for id := range c {
				for _, o := range chains {
					if !o[id] {
						wantDiff[id] = true
					}
				}
			}
		}
		gotDiff, ok, err := s.AuthChainDifference(ctx, sets)
		if err != nil || !ok {
			t.Fatalf("AuthChainDifference(%v) = ok %v, %v", sets, ok, err)
		}
		slices.Sort(gotDiff)
		if diff := cmp.Diff(keysOf(wantDiff), gotDiff, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("AuthChainDifference(%v) (-walked +index):\n%s", sets, diff)
		}
	}
	// A set holding an event the index cannot answer for is not answered.
	for _, id := range d.order {
		if _, complete := d.walk([]string{id}); !complete {
			if _, ok, err := s.AuthChainDifference(ctx, []core.AuthChainSet{{Events: []string{id}}, {Events: indexed[:1]}}); err != nil || ok {
				t.Fatalf("AuthChainDifference with %s (not indexable) = ok %v, %v; want not ok", id, ok, err)
			}
			break
		}
	}
}

// TestAuthChainIndexMatchesWalk is the index's property: on random auth
// DAGs stored in random order, it answers exactly what walking auth_events
// answers, and answers nothing it cannot know.
func TestAuthChainIndexMatchesWalk(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 32))
			s := newTestStore(t)
			r := newTestRoom(t, s, fmt.Sprint("dag", seed))
			d := newAuthDAG(r, rng, 150)
			d.persistShuffled(r, rng)
			d.checkIndex(t, s, rng)
		})
	}
}

// TestAuthChainBackgroundUpdate: a database that has events but not the
// index (a version-2 database from before delta 32) gets the delta at the
// next open, and the background update indexes what was stored.
func TestAuthChainBackgroundUpdate(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	rng := rand.New(rand.NewPCG(7, 32))
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	s := NewEventStore(db)
	r := newTestRoom(t, s, "old")
	d := newAuthDAG(r, rng, 200)
	d.persistShuffled(r, rng)
	// Take the database back to before the delta.
	err = db.Write(ctx, func(q Queryer) error {
		for _, stmt := range []string{
			"DROP TABLE event_auth_chains", "DROP TABLE event_auth_chain_links", "DROP TABLE event_auth_chain_to_calculate",
			"DELETE FROM applied_schema_deltas WHERE file = 'main/delta/2/32event_auth_chains.sql'",
			"DELETE FROM background_updates",
		} {
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = mustOpenWith(t, o)
	s = NewEventStore(db)
	if _, ok, err := s.AuthChain(ctx, d.order[len(d.order)-1:]); err != nil || ok {
		t.Fatalf("before the background update: AuthChain ok %v, %v; want not ok", ok, err)
	}
	pending, err := db.PendingUpdates(ctx)
	if err != nil || len(pending) != 1 || pending[0].Name != updateAuthChains {
		t.Fatalf("pending updates %v, %v; want %s", pending, err, updateAuthChains)
	}
	u := NewBackgroundUpdates(db)
	u.MinBatch, u.MaxBatch = 7, 7 // many batches, so events wait across them
	if err := u.Run(ctx); err != nil {
		t.Fatal(err)
	}
	r.s = s
	d.checkIndex(t, s, rng)
}

// TestAuthChainAfterPurge: a purged room's events stored again (the
// server joins the room again) get new positions, and the answers, cached
// or not, follow.
func TestAuthChainAfterPurge(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 32))
	s := newTestStore(t)
	r := newTestRoom(t, s, "purged")
	d := newAuthDAG(r, rng, 120)
	d.persistShuffled(r, rng)
	d.checkIndex(t, s, rng) // fills the cache
	if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, r.id); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.Reader().QueryRow("SELECT count(*) FROM event_auth_chains").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the purge: %d indexed events, %v", n, err)
	}
	// Another room first, so the purged room's events come back at other
	// positions.
	other := newTestRoom(t, s, "other")
	newAuthDAG(other, rng, 60).persistShuffled(other, rng)
	r = newTestRoom(t, s, "purged")
	d.persistShuffled(r, rng)
	d.checkIndex(t, s, rng)
}
