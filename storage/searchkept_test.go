package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// historyRoom is a room of searchHistory.
type historyRoom struct {
	r      *testRoom
	depth  int64
	joined bool
	purged bool
}

// searchHistory runs a random history of messages, bob's messages,
// redactions, alice's leaves and joins, her profile changes, outliers and
// their joining the timeline, rooms of bob's with text that she enters
// later (a first join; an invite, then a join or a rejection; a knock,
// then a join), and a purge, calling check after each step; it fails when
// a kind of step never ran. Its first rooms are alice's, made by first
// joins.
func searchHistory(t *testing.T, s *EventStore, steps int, check func(rooms []*historyRoom, step int, what string)) {
	t.Helper()
	ctx := context.Background()
	alice, bob := "@alice:"+testServer, "@bob:"+testServer
	rng := rand.New(rand.NewPCG(7, 14))
	var rooms []*historyRoom
	seq := 0
	name := func(what string) string { seq++; return fmt.Sprint(what, " ", seq) }
	membership := func(rm *historyRoom, m string) {
		rm.depth++
		ev := rm.r.member(name("member"), rm.depth, alice, m)
		rm.r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: rm.r.id,
			Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
		rm.joined = m == "join"
	}
	for i := range 3 {
		rm := &historyRoom{r: newTestRoom(t, s, fmt.Sprint("kept ", i))}
		membership(rm, "join")
		rooms = append(rooms, rm)
	}
	if g := s.db.search.counts.gen.Load(); g != 0 {
		t.Errorf("first joins of rooms without text moved the generation to %d: a new room would drop all that is kept", g)
	}
	words := []string{"apple", "kiwi", "plum"}
	var sent []string // message event IDs, for redactions
	type outlier struct {
		rm *historyRoom
		ev core.NewEvent
	}
	var outliers []outlier // stored as outliers, not yet in the timeline
	message := func(rm *historyRoom, sender string, asOutlier bool) {
		rm.depth++
		var w []string
		for _, x := range words {
			if rng.IntN(2) == 0 {
				w = append(w, strings.Repeat(x+" ", 1+rng.IntN(2)))
			}
		}
		filler := strings.Repeat("x ", rng.IntN(4))
		ev := withContent(rm.r.msg(name("msg"), rm.depth), sender, `{"msgtype":"m.text","body":"`+strings.Join(w, " ")+filler+`"}`)
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
	// The ways alice enters bob's rooms, one room each: what she is
	// first (nothing, invited, knocking), then what she becomes.
	entries := []struct{ first, then, what string }{
		{"invite", "join", "join after an invite"},
		{"invite", "leave", "rejection of an invite"},
		{"knock", "join", "join after a knock"},
		{"", "join", "first join of a room with text"},
	}
	entered := 0
	var bobs *historyRoom // bob's room, not yet entered by alice
	asked := false        // alice is invited to bobs or knocking on it
	check(rooms, 0, "start")
	done := map[string]int{}
	for step := 1; step <= steps; step++ {
		var live []*historyRoom
		for _, rm := range rooms {
			if !rm.purged {
				live = append(live, rm)
			}
		}
		rm := live[rng.IntN(len(live))]
		what := "message"
		switch k := rng.IntN(16); {
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
		case k == 13 && step > steps*3/4 && !rooms[2].purged:
			what = "purge"
			rm = rooms[2]
			if _, err := NewAdminRoomStore(s.db, testServer).PurgeRoom(ctx, rm.r.id); err != nil {
				t.Fatal(err)
			}
			rm.purged = true
		case k >= 14 && bobs == nil && entered < len(entries):
			what = "bob's room"
			bobs = &historyRoom{r: newTestRoom(t, s, fmt.Sprint("bob's ", entered))}
			for range 4 {
				message(bobs, bob, false)
			}
		case k >= 14 && bobs != nil && !asked && entries[entered].first != "":
			what = "invite to a room with text"
			if entries[entered].first == "knock" {
				what = "knock on a room with text"
			}
			membership(bobs, entries[entered].first)
			asked = true
		case k >= 14 && bobs != nil:
			what = entries[entered].what
			membership(bobs, entries[entered].then)
			rooms = append(rooms, bobs)
			bobs, asked = nil, false
			entered++
		default:
			message(rm, "", false)
		}
		check(rooms, step, what)
		done[what]++
	}
	for _, what := range []string{"message", "bob's message", "redaction", "leave or join", "join again (a profile change)",
		"outlier", "outlier joining the timeline", "purge", "bob's room", "invite to a room with text",
		"knock on a room with text", "join after an invite", "rejection of an invite", "join after a knock",
		"first join of a room with text"} {
		if done[what] == 0 {
			t.Errorf("no step %q ran", what)
		}
	}
}

// without runs f with the kept counts and windows set aside (f counts
// afresh, and ranks in SQL: searchByRank), then puts them back.
func (c *searchIndex) without(f func()) {
	keepSearchWindows = false
	defer func() { keepSearchWindows = true }()
	c.counts.mu.Lock()
	counts := c.counts.m
	c.counts.m = nil
	c.counts.mu.Unlock()
	c.ranks.mu.Lock()
	ranks := c.ranks.m
	c.ranks.m = nil
	c.ranks.mu.Unlock()
	f()
	c.counts.mu.Lock()
	c.counts.m = counts
	c.counts.mu.Unlock()
	c.ranks.mu.Lock()
	c.ranks.m = ranks
	c.ranks.mu.Unlock()
}

// TestCountSearchKept: counts kept from one search to the next (and
// counted on only for what was indexed since) equal a fresh count after
// every step of searchHistory, with and without a sender left out, at a
// low cap and a high one; it fails without any of the writes that move
// the counts' generation.
func TestCountSearchKept(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	alice, bob := "@alice:"+testServer, "@bob:"+testServer
	all := []string{clientsync.KeyBody}
	searchHistory(t, s, 150, func(rooms []*historyRoom, step int, what string) {
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
					var want int
					s.db.search.without(func() {
						if want, err = s.CountSearch(ctx, q, skip, max); err != nil {
							t.Fatal(err)
						}
					})
					if n != want {
						t.Fatalf("step %d (%s): %q in %v (member %q) skipping %v, max %d: counted %d, afresh %d",
							step, what, q.Words, q.RoomIDs, q.Member, skip, max, n, want)
					}
				}
			}
		}
	})
}

// TestSearchRankKept: pages by rank through the windows kept (and ranked
// again with the matches indexed since) are the pages ranked afresh, event
// by event and rank by rank, after every step of searchHistory: windows of
// six matches, pages within the first window and across it, alice's rooms
// and a list of rooms, one word, a prefix and two words.
func TestSearchRankKept(t *testing.T) {
	defer func(v int) { rankWindow = v }(rankWindow)
	rankWindow = 6
	ctx := context.Background()
	s := newTestStore(t)
	alice := "@alice:" + testServer
	all := []string{clientsync.KeyBody}
	type hit struct {
		ID   string
		Rank float64
	}
	search := func(q clientsync.SearchQuery) []hit {
		t.Helper()
		hits, err := s.SearchEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out := []hit{}
		for _, h := range hits {
			out = append(out, hit{h.Event.EventID, h.Rank})
		}
		return out
	}
	searchHistory(t, s, 150, func(rooms []*historyRoom, step int, what string) {
		t.Helper()
		for _, words := range [][]string{{"apple"}, {"kiwi"}, {"ap"}, {"apple", "plum"}} {
			for _, q := range []clientsync.SearchQuery{
				{Member: alice, Scope: clientsync.ScopeMemberRooms, Words: words, Keys: all},
				{RoomIDs: []string{rooms[0].r.id, rooms[1].r.id}, Words: words, Keys: all},
			} {
				for _, page := range [][2]int{{0, 3}, {2, 4}, {4, 3}, {0, 10}} {
					q.Offset, q.Limit = page[0], page[1]
					got := search(q)
					var want []hit
					s.db.search.without(func() { want = search(q) })
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("step %d (%s): %q in %v (member %q), page %v (-afresh +kept):\n%s",
							step, what, words, q.RoomIDs, q.Member, page, diff)
					}
				}
			}
		}
	})
}

// TestSearchRankKeptRoomEnteredFromInvite: a room alice was only invited
// to (or knocking on) is outside the scope of her rooms; when she joins
// it, or rejects the invite, it enters the scope whole, its older
// matches included. A window kept before must not serve the next search
// as it was with only the newer matches added: the page is the one
// ranked afresh, with bob's older messages in it.
func TestSearchRankKeptRoomEnteredFromInvite(t *testing.T) {
	for _, c := range []struct{ first, then string }{
		{"invite", "join"}, {"invite", "leave"}, {"knock", "join"},
	} {
		t.Run(c.first+" then "+c.then, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStore(t)
			alice, bob := "@alice:"+testServer, "@bob:"+testServer
			member := func(r *testRoom, id string, depth int64, m string) {
				ev := r.member(id, depth, alice, m)
				r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
					Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
			}
			mine := newTestRoom(t, s, "alice's")
			member(mine, "mine join", 1, "join")
			mine.persist(core.PersistOptions{}, withContent(mine.msg("mine msg", 2), "", `{"msgtype":"m.text","body":"pear tart"}`))
			bobs := newTestRoom(t, s, "bob's")
			var older []string
			for i := range 3 {
				id := fmt.Sprint("bob's msg ", i)
				bobs.persist(core.PersistOptions{}, withContent(bobs.msg(id, int64(1+i)), bob, `{"msgtype":"m.text","body":"pear pear"}`))
				older = append(older, eventID(id))
			}
			member(bobs, "bob's "+c.first, 10, c.first)
			q := clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeMemberRooms, Words: []string{"pear"},
				Keys: []string{clientsync.KeyBody}, Limit: 10}
			search := func() map[string]bool {
				t.Helper()
				hits, err := s.SearchEvents(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				ids := map[string]bool{}
				for _, h := range hits {
					ids[h.Event.EventID] = true
				}
				return ids
			}
			if got := search(); len(got) != 1 || !got[eventID("mine msg")] {
				t.Fatalf("while alice is %s: found %v, want only her own room's message", c.first, got)
			}
			member(bobs, "bob's "+c.then, 11, c.then)
			got := search()
			for _, id := range append(older, eventID("mine msg")) {
				if !got[id] {
					t.Errorf("after %s then %s: %q not found (found %v)", c.first, c.then, id, got)
				}
			}
			if len(got) != len(older)+1 {
				t.Errorf("after %s then %s: found %v, want %d matches", c.first, c.then, got, len(older)+1)
			}
		})
	}
}

// TestRoomTextBeforeByRoom: the look for text before a first membership
// (every room made runs it) walks the room's events through a room index,
// not every event older than the membership through the rowid.
func TestRoomTextBeforeByRoom(t *testing.T) {
	s := newTestStore(t)
	rows, err := s.db.Reader().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+sqlRoomTextBefore, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "USING INDEX") || !strings.Contains(joined, "(room_nid=?") {
		t.Errorf("plan %q: want a search of events by room_nid", joined)
	}
}

// TestSearchKeptFromAnOlderSnapshot: a search whose read sees the
// database as it was before a write (a request's read scope begun
// earlier) keeps nothing that a later search would take for the current
// state: neither a window or count behind the index with the newer
// matches in it (which the next search would add again) nor a window or
// count under the generation a redaction moved to, with the redacted
// event in it.
// The pages and counts after it are those made afresh.
func TestSearchKeptFromAnOlderSnapshot(t *testing.T) {
	defer func(v int) { rankWindow = v }(rankWindow)
	rankWindow = 6
	ctx := context.Background()
	alice := "@alice:" + testServer
	all := []string{clientsync.KeyBody}
	for _, write := range []string{"messages", "redaction"} {
		t.Run(write, func(t *testing.T) {
			s := newTestStore(t)
			r := newTestRoom(t, s, "snapshot")
			ev := r.member("snapshot join", 1, alice, "join")
			r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
				Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
			depth := int64(1)
			send := func(body string) string {
				depth++
				ev := withContent(r.msg(fmt.Sprint("snapshot msg ", depth), depth), "", `{"msgtype":"m.text","body":"`+body+`"}`)
				r.persist(core.PersistOptions{}, ev)
				return ev.EventID
			}
			first := send("apple")
			for range 4 { // a full window with the next two
				send("apple apple")
			}
			q := clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeMemberRooms, Words: []string{"apple"}, Keys: all, Limit: 5}
			cq := clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeAfterJoin, Words: []string{"apple"}, Keys: all}
			type result struct {
				IDs   []string
				Count int
			}
			search := func(ctx context.Context) result {
				t.Helper()
				hits, err := s.SearchEvents(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				n, err := s.CountSearch(ctx, cq, nil, 100)
				if err != nil {
					t.Fatal(err)
				}
				out := result{Count: n}
				for _, h := range hits {
					out.IDs = append(out.IDs, h.Event.EventID)
				}
				return out
			}
			search(ctx)
			old, end := s.db.ReadScope(ctx)
			defer end()
			if _, err := s.SearchEvents(old, clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeMemberRooms,
				Words: []string{"kiwi"}, Keys: all, Limit: 10}); err != nil { // begins the scope's transaction
				t.Fatal(err)
			}
			if write == "messages" {
				send("apple pie")
				send("apple tart")
				search(ctx) // keeps a window and a count of the newer index
			} else {
				depth++
				red := r.msg("snapshot redaction", depth)
				red.Type, red.Redacts = "m.room.redaction", first
				red.JSON = eventJSON(&red, `{"redacts":"`+first+`"}`)
				r.persist(core.PersistOptions{}, red)
				// Another request's search indexes what was stored (a
				// write of the scope's own would end its transaction).
				if err := s.db.waitSearchIndex(ctx); err != nil {
					t.Fatal(err)
				}
			}
			search(old)
			end()
			got := search(ctx)
			var want result
			s.db.search.without(func() { want = search(ctx) })
			if diff := cmp.Diff(want.IDs, got.IDs); diff != "" {
				t.Errorf("page after a search in an older snapshot (-afresh +kept):\n%s", diff)
			}
			if got.Count != want.Count {
				t.Errorf("count after a search in an older snapshot: %d, afresh %d", got.Count, want.Count)
			}
		})
	}
}

// TestSearchWindowBehindTheKeptOne: a search whose read began before the
// index took newer matches, and that finds a window kept by a later
// search (which saw them), ranks afresh: kept again under its own older
// high rowid, that window would have the next search read the newer
// matches a second time and rank them twice, pushing older ones out.
func TestSearchWindowBehindTheKeptOne(t *testing.T) {
	if testVFS != "" {
		t.Skip("a browser VFS has one connection: the test's writes cannot commit while it holds a read transaction open")
	}
	defer func(v int) { rankWindow = v }(rankWindow)
	rankWindow = 6
	ctx := context.Background()
	alice := "@alice:" + testServer
	s := newTestStore(t)
	r := newTestRoom(t, s, "behind")
	ev := r.member("behind join", 1, alice, "join")
	r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
		Changes: core.StateMap{{Type: ev.Type, StateKey: alice}: ev.EventID}}}}, ev)
	depth := int64(1)
	send := func(body string) {
		depth++
		r.persist(core.PersistOptions{}, withContent(r.msg(fmt.Sprint("behind msg ", depth), depth), "", `{"msgtype":"m.text","body":"`+body+`"}`))
	}
	for range 5 {
		send("apple apple")
	}
	q := clientsync.SearchQuery{Member: alice, Scope: clientsync.ScopeMemberRooms, Words: []string{"apple"},
		Keys: []string{clientsync.KeyBody}, Limit: 5}
	search := func() []string {
		t.Helper()
		hits, err := s.SearchEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.Event.EventID)
		}
		return ids
	}
	search()
	queries, scope, err := searchScopeArg(q)
	if err != nil {
		t.Fatal(err)
	}
	gen := s.db.search.counts.gen.Load()
	err = s.read(ctx, nil, func(rd reader) error {
		var hw int64
		if err := rd.queryRow(sqlSearchHighRowid).Scan(&hw); err != nil { // the read's snapshot
			return err
		}
		send("apple pie")
		send("apple tart")
		search() // indexes them and keeps a window with them
		match, err := matchExpression(rd, q.Words, q.Keys)
		if err != nil {
			return err
		}
		_, _, err = s.searchFirstWindow(rd, queries, scope, match, gen, 0, 5)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := search()
	var want []string
	s.db.search.without(func() { want = search() })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("page after a search behind the kept window (-afresh +kept):\n%s", diff)
	}
}
