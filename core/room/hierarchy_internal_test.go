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
