package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// TestCountSearchEstimate counts matches in one room of two whose
// messages alternate, with a sample of 20: a count past the sample is the
// sample's share of the index's older matches, which here is exact; one
// whose sample is mostly out of the scope, or with fewer matches than the
// sample, is counted in full; max bounds all of them.
func TestCountSearchEstimate(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := newTestRoom(t, s, "count a"), newTestRoom(t, s, "count b")
	bob := "@bob:" + testServer
	var evA, evB []core.NewEvent
	for i := range 100 {
		// apple in both rooms; kiwi in b, and in every tenth of a; plum in
		// five of a. Every tenth of a's is bob's.
		wordsA, wordsB := []string{"apple"}, []string{"apple", "kiwi"}
		if i%10 == 0 {
			wordsA = append(wordsA, "kiwi")
		}
		if i%20 == 0 {
			wordsA = append(wordsA, "plum")
		}
		sender := ""
		if i%10 == 0 {
			sender = bob
		}
		evA = append(evA, withContent(a.msg(fmt.Sprint("a", i), int64(i+1)), sender,
			`{"msgtype":"m.text","body":"`+strings.Join(wordsA, " ")+`"}`))
		evB = append(evB, withContent(b.msg(fmt.Sprint("b", i), int64(i+1)), "",
			`{"msgtype":"m.text","body":"`+strings.Join(wordsB, " ")+`"}`))
	}
	for i := range evA {
		a.persist(core.PersistOptions{}, evA[i])
		b.persist(core.PersistOptions{}, evB[i])
	}
	defer func(n int) { countSample = n }(countSample)
	count := func(sample int, word string, skip []string, max int) int {
		t.Helper()
		countSample = sample
		n, err := s.CountSearch(ctx, clientsync.SearchQuery{RoomIDs: []string{a.id}, Words: []string{word},
			Keys: []string{clientsync.KeyBody}}, skip, max)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name string
		word string
		skip []string
		max  int
		want int
	}{
		{"estimated, half in the scope", "apple", nil, 2000, 100},
		{"estimated, a sender left out", "apple", []string{bob}, 2000, 90},
		{"estimated, bounded", "apple", nil, 60, 60},
		{"bounded in the sample", "apple", nil, 7, 7},
		{"sample mostly out of the scope", "kiwi", nil, 2000, 10},
		{"fewer than the sample", "plum", nil, 2000, 5},
		{"no match", "pear", nil, 2000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(20, tc.word, tc.skip, tc.max); got != tc.want {
				t.Errorf("CountSearch(%q) with a sample of 20 = %d, want %d", tc.word, got, tc.want)
			}
			if got := count(1_000, tc.word, tc.skip, tc.max); got != tc.want {
				t.Errorf("CountSearch(%q) in full = %d, want %d", tc.word, got, tc.want)
			}
		})
	}
}
