package storage

import (
	"context"
	"math"
	"slices"
	"testing"

	"hearth.dev/hearth/core"
)

// search_rank orders a one-word search as FTS5's bm25() does: for one
// phrase, bm25() is search_rank times the phrase's weight, so their ratio
// is the same for every match (rows of different lengths and counts).
func TestSearchRankIsBM25ForOneWord(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	r := newTestRoom(t, s, "rank")
	bodies := []string{
		"lantern", "lantern lantern", "a lantern in the long dark night of the soul",
		"lantern lantern lantern and a meadow", "meadow", "the lantern, the meadow, the willow, the copper ember",
		"nothing here at all", "lantern meadow lantern meadow lantern meadow lantern",
	}
	var evs []core.NewEvent
	prev := []string{}
	for i, b := range bodies {
		name := "r" + string(rune('a'+i))
		evs = append(evs, withContent(r.msg(name, int64(i+1), prev...), "", `{"msgtype":"m.text","body":"`+b+`"}`))
		prev = []string{name}
	}
	r.persist(core.PersistOptions{}, evs...)
	if err := s.db.waitSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for _, match := range []string{`{body} : ("lantern")`, `{body name topic} : (("meadow" OR "meadows"))`} {
		var ratios []float64
		err := s.read(ctx, nil, func(rd reader) error {
			rows, err := rd.query(`SELECT -bm25(event_search), search_rank(event_search,
				(SELECT block FROM event_search_data WHERE id = 1), (SELECT sz FROM event_search_docsize WHERE id = event_search.rowid))
				FROM event_search WHERE event_search MATCH ?`, match)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var bm, ours float64
				if err := rows.Scan(&bm, &ours); err != nil {
					return err
				}
				if ours <= 0 {
					t.Errorf("%s: rank %v, want > 0", match, ours)
				}
				ratios = append(ratios, bm/ours)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ratios) < 4 {
			t.Fatalf("%s: %d matches", match, len(ratios))
		}
		for _, q := range ratios {
			if math.Abs(q-ratios[0]) > 1e-9*math.Abs(ratios[0]) {
				t.Errorf("%s: bm25 / search_rank = %v, not the same for every match", match, ratios)
				break
			}
		}
	}
}

// putVarint appends v as an SQLite varint.
func putVarint(b []byte, v uint64) []byte {
	if v > 1<<56-1 {
		var out [9]byte
		out[8] = byte(v)
		v >>= 8
		for i := 7; i >= 0; i-- {
			out[i] = byte(v&0x7f) | 0x80
			v >>= 7
		}
		return append(b, out[:]...)
	}
	var rev []byte
	rev = append(rev, byte(v&0x7f))
	for v >>= 7; v > 0; v >>= 7 {
		rev = append(rev, byte(v&0x7f)|0x80)
	}
	slices.Reverse(rev)
	return append(b, rev...)
}

// FuzzVarints checks the decoder against the encoder on any values, and
// that no bytes make it fail.
func FuzzVarints(f *testing.F) {
	f.Add(uint64(0), uint64(127), []byte{0x81})
	f.Add(uint64(128), uint64(1<<56), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(uint64(math.MaxUint64), uint64(16383), []byte{})
	f.Fuzz(func(t *testing.T, a, b uint64, junk []byte) {
		got := varints(putVarint(putVarint(nil, a), b))
		if !slices.Equal(got, []uint64{a, b}) {
			t.Errorf("varints of %d, %d = %v", a, b, got)
		}
		varints(junk)
	})
}
