package web

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An incremental /sync of a user in many rooms, which looks only at the
// rooms with news, gives every kind of news: new events, a join, a leave,
// a ban, an invite, typing and a receipt in otherwise quiet rooms, and
// nothing for quiet rooms, for a room left before (its receipt), or for a
// room the user is not in (its typing). With more events since the token
// than the stream walk reads (every room looked at), the sections are the
// same.
func TestSyncIncrementalManyRooms(t *testing.T) {
	type sections struct{ Join, Leave, Invite []string }
	run := func(t *testing.T, padding int) (sections, map[string][]string) {
		e := newSyncEnv(t)
		alice := e.user("alice", false)
		bob := e.user("bob", false)
		aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
		rooms := make([]string, 40)
		for i := range rooms {
			rooms[i] = e.createRoom(alice, map[string]any{"preset": "public_chat", "name": fmt.Sprint("room ", i)})
		}
		// Bob is in rooms 0-9; room 20 is bob's and alice is invited to
		// it; alice left room 30 before the token.
		for i := range 10 {
			e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[i])+"/join", bob, map[string]any{}, nil)
		}
		bobsRoom := e.createRoom(bob, map[string]any{"preset": "public_chat", "name": "bob's"})
		joinLater := e.createRoom(bob, map[string]any{"preset": "private_chat", "name": "bob's private"})
		e.must("POST", cs+"/rooms/"+url.PathEscape(joinLater)+"/invite", bob, map[string]any{"user_id": aliceID}, nil)
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[30])+"/leave", alice, map[string]any{}, nil)
		var pad string
		if padding > 0 {
			pad = e.createRoom(alice, map[string]any{"preset": "public_chat", "name": "padding"})
		}
		first, _ := e.sync(alice)
		since := first.NextBatch

		for i := range padding {
			e.send(alice, pad, fmt.Sprint("pad", i), "padding")
		}
		msg := e.send(bob, rooms[1], "m1", "news in room 1")
		e.must("POST", cs+"/rooms/"+url.PathEscape(joinLater)+"/join", alice, map[string]any{}, nil)
		two := e.send(bob, rooms[2], "m2", "two")
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[2])+"/leave", alice, map[string]any{}, nil)
		// A receipt in a room alice has left: not hers to see.
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[2])+"/receipt/m.read/"+url.PathEscape(two), bob, map[string]any{}, nil)
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[3])+"/ban", alice, map[string]any{"user_id": bobID}, nil)
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[4])+"/kick", alice, map[string]any{"user_id": bobID}, nil)
		invited := e.createRoom(bob, map[string]any{"preset": "private_chat", "name": "invite", "invite": []string{aliceID}})
		e.must("PUT", cs+"/rooms/"+url.PathEscape(rooms[5])+"/typing/"+url.PathEscape(bobID), bob, map[string]any{"typing": true, "timeout": 30000}, nil)
		e.must("PUT", cs+"/rooms/"+url.PathEscape(bobsRoom)+"/typing/"+url.PathEscape(bobID), bob, map[string]any{"typing": true, "timeout": 30000}, nil)
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[1])+"/receipt/m.read/"+url.PathEscape(msg), bob, map[string]any{}, nil)
		// Bob's receipt in room 6 (alice is there) after he posts in it.
		six := e.send(bob, rooms[6], "m6", "six")
		e.must("POST", cs+"/rooms/"+url.PathEscape(rooms[6])+"/receipt/m.read/"+url.PathEscape(six), bob, map[string]any{}, nil)

		_, r := e.sync(alice, "since", since)
		var out struct {
			Rooms struct {
				Join map[string]struct {
					Timeline struct {
						Events []syncEvent `json:"events"`
					} `json:"timeline"`
					Ephemeral struct {
						Events []struct {
							Type string `json:"type"`
						} `json:"events"`
					} `json:"ephemeral"`
				} `json:"join"`
				Leave  map[string]any `json:"leave"`
				Invite map[string]any `json:"invite"`
			} `json:"rooms"`
		}
		r.JSON(t, &out)
		name := map[string]string{joinLater: "joinLater", bobsRoom: "bobsRoom", invited: "invited", pad: "pad"}
		for i, id := range rooms {
			name[id] = fmt.Sprint("room ", i)
		}
		names := func(ids []string) []string {
			var n []string
			for _, id := range ids {
				if id != pad {
					n = append(n, name[id])
				}
			}
			slices.Sort(n)
			return n
		}
		s := sections{
			Join:   names(slices.Collect(maps.Keys(out.Rooms.Join))),
			Leave:  names(slices.Collect(maps.Keys(out.Rooms.Leave))),
			Invite: names(slices.Collect(maps.Keys(out.Rooms.Invite))),
		}
		eph := map[string][]string{}
		for id, jr := range out.Rooms.Join {
			for _, ev := range jr.Ephemeral.Events {
				eph[name[id]] = append(eph[name[id]], ev.Type)
			}
			slices.Sort(eph[name[id]])
		}
		return s, eph
	}
	want := sections{
		Join:   []string{"joinLater", "room 1", "room 3", "room 4", "room 5", "room 6"},
		Leave:  []string{"room 2"},
		Invite: []string{"invited"},
	}
	wantEph := map[string][]string{"room 1": {"m.receipt"}, "room 5": {"m.typing"}, "room 6": {"m.receipt"}}
	for _, padding := range []int{0, 505} {
		t.Run(fmt.Sprint("padding=", padding), func(t *testing.T) {
			got, eph := run(t, padding)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("sections (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantEph, eph); diff != "" {
				t.Errorf("ephemeral events by room (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkSyncManyRooms: a user in 1,000 rooms sends a message in one
// and makes an incremental /sync, as the soak's clients do.
func BenchmarkSyncManyRooms(b *testing.B) {
	e := newSyncEnv(b)
	alice := e.user("alice", false)
	rooms := make([]string, 1000)
	for i := range rooms {
		rooms[i] = e.createRoom(alice, map[string]any{"preset": "private_chat"})
	}
	first, _ := e.sync(alice)
	since := first.NextBatch
	i := 0
	for b.Loop() {
		e.send(alice, rooms[i%len(rooms)], fmt.Sprint("b", i), "hello")
		i++
		s, _ := e.sync(alice, "since", since)
		if len(s.Rooms.Join) != 1 {
			b.Fatalf("%d rooms in the sync, want 1", len(s.Rooms.Join))
		}
		since = s.NextBatch
	}
}
