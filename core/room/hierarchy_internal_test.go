package room

import (
	"slices"
	"strings"
	"testing"
)

// TestCompareChildren: the spec's ordering of a space's children, order
// first (valid orders only), then the m.space.child event's
// origin_server_ts, then room ID.
func TestCompareChildren(t *testing.T) {
	cs := []spaceChild{
		{roomID: "!z:s", ts: 1},
		{roomID: "!b:s", ts: 5},
		{roomID: "!a:s", ts: 5},
		{roomID: "!o2:s", order: "b", ts: 0},
		{roomID: "!o1:s", order: "a", ts: 9},
		{roomID: "!o0:s", order: "a", ts: 3},
	}
	slices.SortFunc(cs, compareChildren)
	var got []string
	for _, c := range cs {
		got = append(got, c.roomID)
	}
	want := []string{"!o0:s", "!o1:s", "!o2:s", "!z:s", "!a:s", "!b:s"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %q, want %q", got, want)
	}
	for _, tc := range []struct {
		order string
		want  bool
	}{{"a", true}, {" ~", true}, {"", false}, {"\x7f", false}, {"é", false}, {strings.Repeat("x", 50), true}, {strings.Repeat("x", 51), false}} {
		if got := validChildOrder(tc.order); got != tc.want {
			t.Errorf("validChildOrder(%q) got %v, want %v", tc.order, got, tc.want)
		}
	}
}

// FuzzParseStrippedChild: the m.space.child entries of another server's
// /hierarchy answer never make the parser panic; one it accepts names a
// valid room ID and at least one via server, has a valid order or none,
// and its stripped form parses back to the same child.
func FuzzParseStrippedChild(f *testing.F) {
	for _, seed := range []string{
		`{"type":"m.space.child","state_key":"!a:b.test","sender":"@u:b.test","origin_server_ts":5,"content":{"via":["b.test"],"order":"x","suggested":true}}`,
		`{"type":"m.space.child","state_key":"!a:b.test","content":{"via":[]}}`,
		`{"type":"m.space.child","state_key":"not a room","content":{"via":["b.test"]}}`,
		`{"type":"m.space.child","state_key":"!a:b.test","content":{"via":["b.test",7],"order":"\u0001"}}`,
		`{"type":"m.room.name","state_key":"","content":{}}`,
		`[]`, `null`, `{"type":"m.space.child","content":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, ok := parseStrippedChild(raw)
		if !ok {
			return
		}
		if !strings.HasPrefix(c.roomID, "!") || len(c.via) == 0 || (c.order != "" && !validChildOrder(c.order)) {
			t.Fatalf("accepted child %+v from %s", c, raw)
		}
		again, ok := parseStrippedChild(c.stripped)
		if !ok || again.roomID != c.roomID || again.order != c.order || again.ts != c.ts || again.suggested != c.suggested || !slices.Equal(again.via, c.via) {
			t.Fatalf("stripped form %s parses to %+v, %v; want %+v", c.stripped, again, ok, c)
		}
	})
}
