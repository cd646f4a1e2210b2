package stateres_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/stateres"
)

var users = []string{alice, bob, charlie, zara, dave}

// randomForks grows a shared trunk and then several branches of random
// state events on top of the initial room. Each branch is a valid linear
// history: an event joins its branch's state only if the authorisation
// rules allow it there. It returns the branch states.
func randomForks(t testing.TB, d *dag, rng *rand.Rand, branches, trunkLen, branchLen int) []stateres.StateMap {
	t.Helper()
	trunk := d.state(initial...)
	grow := func(state stateres.StateMap, prefix string, n int) {
		for j := 0; j < n; j++ {
			name := fmt.Sprintf("%s%d", prefix, j)
			sender := users[rng.IntN(len(users))]
			var typ, sk, content string
			switch rng.IntN(5) {
			case 0:
				typ, sk, content = topic, "", fmt.Sprintf(`{"topic":%q}`, name)
			case 1:
				typ, sk = powerLevels, ""
				content = d.pl(map[string]int{alice: 100, bob: rng.IntN(101), charlie: rng.IntN(3) * 50, sender: rng.IntN(101)})
			case 2:
				typ, sk = joinRules, ""
				content = []string{`{"join_rule":"public"}`, `{"join_rule":"invite"}`}[rng.IntN(2)]
			default:
				typ, sk = member, users[rng.IntN(len(users))]
				m := []string{"join", "leave", "ban", "invite"}[rng.IntN(4)]
				if m == "join" {
					sk = sender
				}
				content = fmt.Sprintf(`{"membership":%q}`, m)
			}
			probe := &pdu.PDU{Type: typ, Sender: sender, StateKey: &sk, Content: []byte(content), RoomID: d.roomID}
			lookup := func(k eventauth.StateKey) (*pdu.PDU, error) {
				if k.Type == eventauth.TypeCreate && d.v.RoomIDFromCreateEvent {
					return d.events["CREATE"], nil
				}
				if id, ok := state[k]; ok {
					return d.fetch(id)
				}
				return nil, nil
			}
			ids, err := eventauth.SelectAuthEvents(d.v, probe, lookup)
			if err != nil {
				t.Fatal(err)
			}
			auth := []string{"CREATE"}
			for _, id := range ids {
				if n := strings.TrimPrefix(id, "$"); n != "CREATE" {
					auth = append(auth, n)
				}
			}
			e := d.add(name, typ, sender, sk, content, auth, ts(int64(rng.IntN(50))))
			if eventauth.Authorize(d.v, e, lookup, nil) == nil {
				state[eventauth.StateKey{Type: typ, StateKey: sk}] = e.EventID
			}
		}
	}
	grow(trunk, "T", trunkLen)
	sets := make([]stateres.StateMap, branches)
	for b := range sets {
		sets[b] = maps.Clone(trunk)
		grow(sets[b], fmt.Sprintf("B%d_", b), branchLen)
	}
	return sets
}

// TestResolveProperties checks, over random forks, that the result does
// not depend on the order of the state sets, that resolving one state (or
// the same state twice) gives it back, that the unconflicted state is kept,
// and that every resolved value is an event of the room.
func TestResolveProperties(t *testing.T) {
	for _, vid := range []string{"1", "2", "10", "12"} {
		for seed := uint64(1); seed <= 25; seed++ {
			t.Run(fmt.Sprintf("v%s/seed%d", vid, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 1))
				d := newDAG(t, vid)
				sets := randomForks(t, d, rng, 2+rng.IntN(3), rng.IntN(5), 3+rng.IntN(12))
				got, err := stateres.Resolve(d.v, sets, d.fetch, nil)
				if err != nil {
					t.Fatal(err)
				}
				if testing.Verbose() {
					conflicts := 0
					for k, v := range sets[0] {
						for _, s := range sets[1:] {
							if s[k] != v {
								conflicts++
								break
							}
						}
					}
					t.Logf("%d state sets, %d keys, %d conflicted keys of the first set, %d events", len(sets), len(got), conflicts, len(d.events))
				}
				for i := 0; i < 3; i++ {
					shuffled := append([]stateres.StateMap(nil), sets...)
					rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
					again, err := stateres.Resolve(d.v, shuffled, d.fetch, nil)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(names(got), names(again)); diff != "" {
						t.Fatalf("order of state sets changed the result (-first +shuffled):\n%s", diff)
					}
				}
				for _, s := range sets[:1] {
					for _, in := range [][]stateres.StateMap{{s}, {s, s}} {
						same, err := stateres.Resolve(d.v, in, d.fetch, nil)
						if err != nil {
							t.Fatal(err)
						}
						if diff := cmp.Diff(names(s), names(same)); diff != "" {
							t.Fatalf("resolving %d copies of one state changed it:\n%s", len(in), diff)
						}
					}
				}
				for k, v := range sets[0] {
					everywhere := true
					for _, s := range sets[1:] {
						if s[k] != v {
							everywhere = false
						}
					}
					if everywhere && got[k] != v {
						t.Errorf("unconflicted %v = %s, resolved to %s", k, v, got[k])
					}
				}
				for k, v := range got {
					e, _ := d.fetch(v)
					if e == nil || e.StateKey == nil || e.Type != k.Type || *e.StateKey != k.StateKey {
						t.Errorf("resolved %v = %s, which is not an event with that key", k, v)
					}
				}
			})
		}
	}
}

func TestResolveErrors(t *testing.T) {
	d := newDAG(t, "10")
	d.add("PA", powerLevels, alice, "", d.pl(map[string]int{alice: 100, bob: 50}), []string{"CREATE", "IMA", "IPOWER"})
	sets := []stateres.StateMap{d.state(initial...), d.state(with(initial, "PA")...)}

	missing := func(id string) (*pdu.PDU, error) {
		if id == "$IPOWER" {
			return nil, nil
		}
		return d.fetch(id)
	}
	if _, err := stateres.Resolve(d.v, sets, missing, nil); !errors.Is(err, stateres.ErrEventNotFound) {
		t.Errorf("Resolve with a missing event = %v, want ErrEventNotFound", err)
	}
	if _, err := stateres.Resolve(nil, sets, d.fetch, nil); err == nil {
		t.Error("Resolve(nil version) succeeded")
	}

	// An auth cycle (impossible with hashed event IDs, possible in v1/v2).
	c := newDAG(t, "2")
	c.add("X", topic, alice, "", `{}`, []string{"CREATE", "IMA", "IPOWER"})
	c.add("Y", topic, alice, "", `{}`, []string{"CREATE", "IMA", "X"})
	c.events["X"].AuthEvents = append(c.events["X"].AuthEvents, "$Y")
	_, err := stateres.Resolve(c.v, []stateres.StateMap{c.state(with(initial, "X")...), c.state(with(initial, "Y")...)}, c.fetch, nil)
	if !errors.Is(err, stateres.ErrAuthCycle) {
		t.Errorf("Resolve with an auth cycle = %v, want ErrAuthCycle", err)
	}

	empty, err := stateres.Resolve(d.v, nil, d.fetch, nil)
	if err != nil || len(empty) != 0 {
		t.Errorf("Resolve(no state sets) = %v, %v, want an empty state", empty, err)
	}
}
