package stateres_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/stateres"
)

// walkedDifference is the auth difference of sets computed from the DAG
// by walking, as an index would answer it.
func walkedDifference(d *dag, sets []stateres.StateMap) []string {
	chains := make([]map[string]bool, len(sets))
	for i, s := range sets {
		chains[i] = map[string]bool{}
		var stack []string
		for _, id := range s {
			e, _ := d.fetch(id)
			stack = append(stack, e.AuthEvents...)
		}
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if chains[i][id] {
				continue
			}
			chains[i][id] = true
			e, _ := d.fetch(id)
			stack = append(stack, e.AuthEvents...)
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range chains {
		for id := range c {
			for _, o := range chains {
				if !o[id] && !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// TestResolveWithAuthDifference: given the auth difference (as an index
// answers it) and a bulk fetch, Resolve gives the same answer as walking
// every chain, fetches fewer events, and falls back to walking when the
// index cannot answer.
func TestResolveWithAuthDifference(t *testing.T) {
	for _, vid := range []string{"2", "10", "12"} {
		for seed := uint64(1); seed <= 25; seed++ {
			t.Run(fmt.Sprintf("v%s/seed%d", vid, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 7))
				d := newDAG(t, vid)
				sets := randomForks(t, d, rng, 2+rng.IntN(3), 3+rng.IntN(8), 3+rng.IntN(12))
				// The distinct events each way fetches.
				walkedFetches, indexedFetches := map[string]bool{}, map[string]bool{}
				counted := func(seen map[string]bool) stateres.FetchFunc {
					return func(id string) (*pdu.PDU, error) { seen[id] = true; return d.fetch(id) }
				}
				want, err := stateres.Resolve(d.v, sets, counted(walkedFetches), nil)
				if err != nil {
					t.Fatal(err)
				}
				opts := &stateres.Options{
					AuthDifference: func(s []stateres.StateMap) ([]string, bool, error) {
						return walkedDifference(d, s), true, nil
					},
					FetchMany: func(ids []string) (map[string]*pdu.PDU, error) {
						out := map[string]*pdu.PDU{}
						for _, id := range ids {
							indexedFetches[id] = true
							if e, _ := d.fetch(id); e != nil {
								out[id] = e
							}
						}
						return out, nil
					},
				}
				got, err := stateres.Resolve(d.v, sets, counted(indexedFetches), opts)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(names(want), names(got)); diff != "" {
					t.Fatalf("with the index's auth difference (-walked +indexed):\n%s", diff)
				}
				if len(indexedFetches) > len(walkedFetches) {
					t.Errorf("fetched %d events with the index, %d walking", len(indexedFetches), len(walkedFetches))
				}
				opts.AuthDifference = func([]stateres.StateMap) ([]string, bool, error) { return nil, false, nil }
				again, err := stateres.Resolve(d.v, sets, d.fetch, opts)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(names(want), names(again)); diff != "" {
					t.Fatalf("falling back to walking (-walked +fallback):\n%s", diff)
				}
			})
		}
	}
}
