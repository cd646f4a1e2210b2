package storage

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// TestCountSearch counts matches in one room of two whose messages
// alternate: senders left out and max bound the count.
func TestCountSearch(t *testing.T) {
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
	count := func(word string, skip []string, max int) int {
		t.Helper()
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
		{"half in the scope", "apple", nil, 2000, 100},
		{"a sender left out", "apple", []string{bob}, 2000, 90},
		{"bounded", "apple", nil, 60, 60},
		{"bounded low", "apple", nil, 7, 7},
		{"mostly out of the scope", "kiwi", nil, 2000, 10},
		{"few", "plum", nil, 2000, 5},
		{"no match", "pear", nil, 2000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(tc.word, tc.skip, tc.max); got != tc.want {
				t.Errorf("CountSearch(%q) = %d, want %d", tc.word, got, tc.want)
			}
		})
	}
}

// TestCountSearchUnevenRooms: most matches are older and in a room out of
// the scope; the count is the scope's alone (an estimate from the newest
// matches' share counted 160 here, or the cap).
func TestCountSearchUnevenRooms(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := newTestRoom(t, s, "old busy"), newTestRoom(t, s, "new one")
	for i := range 300 {
		a.persist(core.PersistOptions{}, withContent(a.msg(fmt.Sprint("a", i), int64(i+1)), "", `{"msgtype":"m.text","body":"apple"}`))
	}
	for i := range 100 {
		b.persist(core.PersistOptions{}, withContent(b.msg(fmt.Sprint("b", i), int64(i+1)), "", `{"msgtype":"m.text","body":"apple"}`))
	}
	for _, tc := range []struct {
		rooms []string
		want  int
	}{{[]string{b.id}, 100}, {[]string{a.id}, 300}, {[]string{a.id, b.id}, 400}} {
		n, err := s.CountSearch(ctx, clientsync.SearchQuery{RoomIDs: tc.rooms, Words: []string{"apple"}, Keys: []string{clientsync.KeyBody}}, nil, 2000)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("CountSearch(apple in %d rooms) = %d, want %d", len(tc.rooms), n, tc.want)
		}
	}
}
