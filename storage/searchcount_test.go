package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// TestCountSearchKept: counts kept from one search to the next (and
// counted on only for what was indexed since) equal a fresh count after
// every step of a history of messages, redactions, leaves and joins,
// profile changes, outliers joining the timeline, ignored senders and a
// purge, at a low cap and a high one.
func TestCountSearchKept(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	alice, bob := "@alice:"+testServer, "@bob:"+testServer
	rng := rand.New(rand.NewPCG(7, 14))
	type room struct {
		r      *testRoom
		depth  int64
		joined bool
		purged bool
	}
	var rooms []*room
	seq := 0
	name := func(what string) string { seq++; return fmt.Sprint(what, " ", seq) }
	membership := func(rm *room, m string) {
		rm.depth++
		ev := rm.r.member(name("member"), rm.depth, alice, m)
		rm.r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: rm.r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
		rm.joined = m == "join"
	}
	for i := range 3 {
		rm := &room{r: newTestRoom(t, s, fmt.Sprint("kept ", i))}
		membership(rm, "join")
		rooms = append(rooms, rm)
	}
	if g := s.db.search.counts.gen.Load(); g != 0 {
		t.Errorf("first joins moved the counts' generation to %d: a new room would drop every count kept", g)
	}
	words := []string{"apple", "kiwi", "plum"}
	var sent []string // message event IDs, for redactions
	type outlier struct {
		rm *room
		ev core.NewEvent
	}
	var outliers []outlier // stored as outliers, not yet in the timeline
	message := func(rm *room, sender string, asOutlier bool) {
		rm.depth++
		var w []string
		for _, x := range words {
			if rng.IntN(2) == 0 {
				w = append(w, x)
			}
		}
		ev := withContent(rm.r.msg(name("msg"), rm.depth), sender, `{"msgtype":"m.text","body":"`+strings.Join(w, " ")+` x"}`)
		if asOutlier {
			out := ev
			out.Outlier, out.StateGroup = true, 0
			rm.r.persist(core.PersistOptions{}, out)
			outliers = append(outliers, outlier{rm, ev})
			return
		}
		rm.r.persist(core.PersistOptions{}, ev)
		sent = append(sent, ev.EventID)
	}
	fresh := func(q clientsync.SearchQuery, skip []string, max int) int {
		t.Helper()
		c := &s.db.search.counts
		c.mu.Lock()
		kept := c.m
		c.m = nil
		c.mu.Unlock()
		n, err := s.CountSearch(ctx, q, skip, max)
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.m = kept
		c.mu.Unlock()
		return n
	}
	all := []string{clientsync.KeyBody}
	check := func(step int, what string) {
		t.Helper()
		var queries []clientsync.SearchQuery
		for _, w := range []string{"apple", "kiwi", "plum", "ap"} {
			queries = append(queries,
				clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeAfterJoin, Words: []string{w}, Keys: all},
				clientsync.SearchQuery{RoomIDs: []string{rooms[0].r.id, rooms[1].r.id}, Words: []string{w}, Keys: all},
				clientsync.SearchQuery{RoomIDs: []string{rooms[1].r.id}, After: map[string]int64{rooms[1].r.id: 12}, Words: []string{w}, Keys: all})
		}
		for _, q := range queries {
			for _, skip := range [][]string{nil, {bob}} {
				for _, max := range []int{4, 2000} {
					n, err := s.CountSearch(ctx, q, skip, max)
					if err != nil {
						t.Fatal(err)
					}
					if want := fresh(q, skip, max); n != want {
						t.Fatalf("step %d (%s): %q in %v (member %q) skipping %v, max %d: counted %d, afresh %d",
							step, what, q.Words, q.RoomIDs, q.Member, skip, max, n, want)
					}
				}
			}
		}
	}
	check(0, "start")
	done := map[string]int{}
	for step := 1; step <= 120; step++ {
		var live []*room
		for _, rm := range rooms {
			if !rm.purged {
				live = append(live, rm)
			}
		}
		rm := live[rng.IntN(len(live))]
		what := "message"
		switch k := rng.IntN(14); {
		case k < 4:
			message(rm, "", false)
		case k < 6:
			what = "bob's message"
			message(rm, bob, false)
		case k < 9 && len(sent) > 0:
			what = "redaction"
			target := sent[rng.IntN(len(sent))]
			rm.depth++
			red := rm.r.msg(name("red"), rm.depth)
			red.Type, red.Redacts = "m.room.redaction", target
			red.JSON = eventJSON(&red, `{"redacts":"`+target+`"}`)
			rm.r.persist(core.PersistOptions{}, red)
		case k == 9:
			what = "leave or join"
			if rm.joined {
				membership(rm, "leave")
			} else {
				membership(rm, "join")
			}
		case k == 10 && rm.joined:
			what = "join again (a profile change)"
			membership(rm, "join")
		case k == 11:
			what = "outlier"
			message(rm, "", true)
		case k == 12 && len(outliers) > 0:
			what = "outlier joining the timeline"
			o := outliers[0]
			outliers = outliers[1:]
			if !o.rm.purged {
				o.rm.r.persist(core.PersistOptions{}, o.ev)
				sent = append(sent, o.ev.EventID)
			}
		case k == 13 && step > 90 && rm == rooms[2]:
			what = "purge"
			if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, rm.r.id); err != nil {
				t.Fatal(err)
			}
			rm.purged = true
		default:
			message(rm, "", false)
		}
		check(step, what)
		done[what]++
	}
	// Each kind of step ran.
	for _, what := range []string{"message", "bob's message", "redaction", "leave or join",
		"join again (a profile change)", "outlier", "outlier joining the timeline", "purge"} {
		if done[what] == 0 {
			t.Errorf("no step %q ran", what)
		}
	}
}
