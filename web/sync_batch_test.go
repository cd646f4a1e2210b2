package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A /sync reads the timelines, visibility and unread counts of all the
// rooms it sends together. Each room's section must be what a /sync of
// that room alone (a filter naming only it) gives, for a mix of rooms:
// a long timeline (limited), a thread with a threaded receipt, a mention,
// a partly read room, a join, a leave of another member, a ban, a room the
// user left, an invite, rooms joined since (history before the join
// shared, or hidden), a state change, typing in a quiet room; with and without
// filters (timeline limits, types, lazy-loaded members, thread counts),
// for initial and incremental syncs, and with more events since the
// token than the stream walk reads.
func TestSyncBatchedMatchesPerRoom(t *testing.T) {
	filters := map[string]map[string]any{
		"none":    nil,
		"limit 3": {"timeline": map[string]any{"limit": 3}},
		"threads, lazy": {"timeline": map[string]any{"limit": 5, "unread_thread_notifications": true},
			"state": map[string]any{"lazy_load_members": true}},
		"messages only": {"timeline": map[string]any{"limit": 4, "types": []string{"m.room.message"}}},
	}
	for _, padding := range []int{0, 505} {
		t.Run(fmt.Sprint("padding=", padding), func(t *testing.T) {
			e := newSyncEnv(t)
			alice := e.user("alice", false)
			bob := e.user("bob", false)
			carol := e.user("carol", false)
			aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
			path := func(room, rest string) string { return cs + "/rooms/" + url.PathEscape(room) + rest }
			rooms := make([]string, 14)
			for i := range rooms {
				rooms[i] = e.createRoom(alice, map[string]any{"preset": "public_chat", "name": fmt.Sprint("room ", i)})
			}
			for i := range 8 {
				e.must("POST", path(rooms[i], "/join"), bob, map[string]any{}, nil)
				e.send(bob, rooms[i], fmt.Sprint("before", i), "before the token")
			}
			bobsRoom := e.createRoom(bob, map[string]any{"preset": "public_chat", "name": "bob's"})
			for i := range 3 {
				e.send(bob, bobsRoom, fmt.Sprint("early", i), "before alice joins")
			}
			// History visible to members only from their join on.
			joinedOnly := e.createRoom(bob, map[string]any{"preset": "public_chat", "name": "joined only",
				"initial_state": []map[string]any{{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}}}})
			for i := range 3 {
				e.send(bob, joinedOnly, fmt.Sprint("hidden", i), "before alice joins")
			}
			pad := e.createRoom(alice, map[string]any{"preset": "public_chat", "name": "padding"})
			first, _ := e.sync(alice)
			since := first.NextBatch

			for i := range padding {
				e.send(alice, pad, fmt.Sprint("pad", i), "padding")
			}
			// Room 0: more than a timeline's worth, one mentioning alice.
			for i := range 14 {
				e.send(bob, rooms[0], fmt.Sprint("long", i), fmt.Sprint("message ", i))
			}
			e.sendContent(bob, rooms[0], "mention", map[string]any{"msgtype": "m.text", "body": "hello alice",
				"m.mentions": map[string]any{"user_ids": []string{aliceID}}})
			// Room 1: a thread, read by alice in the thread up to its first reply.
			root := e.send(bob, rooms[1], "root", "thread root")
			reply := e.sendContent(bob, rooms[1], "r1", map[string]any{"msgtype": "m.text", "body": "reply 1", "m.relates_to": relatesTo("m.thread", root)})
			e.sendContent(bob, rooms[1], "r2", map[string]any{"msgtype": "m.text", "body": "reply 2", "m.relates_to": relatesTo("m.thread", root)})
			e.send(bob, rooms[1], "main", "main timeline")
			e.must("POST", path(rooms[1], "/receipt/m.read/"+url.PathEscape(reply)), alice, map[string]any{"thread_id": root}, nil)
			// Room 2: two messages, the first read.
			read := e.send(bob, rooms[2], "a", "first")
			e.send(bob, rooms[2], "b", "second")
			e.must("POST", path(rooms[2], "/receipt/m.read/"+url.PathEscape(read)), alice, map[string]any{}, nil)
			// Room 3: carol joins and speaks; room 4: bob leaves; room 5:
			// bob is banned; room 6: alice leaves.
			e.must("POST", path(rooms[3], "/join"), carol, map[string]any{}, nil)
			e.send(carol, rooms[3], "c", "carol here")
			e.must("POST", path(rooms[4], "/leave"), bob, map[string]any{}, nil)
			e.must("POST", path(rooms[5], "/ban"), alice, map[string]any{"user_id": bobID}, nil)
			e.send(bob, rooms[6], "bye", "before alice leaves")
			e.must("POST", path(rooms[6], "/leave"), alice, map[string]any{}, nil)
			// Room 7: a new name and a message.
			e.must("PUT", path(rooms[7], "/state/m.room.name/"), alice, map[string]any{"name": "renamed"}, nil)
			e.send(bob, rooms[7], "n", "after the rename")
			// Alice joins bob's room and is invited to another.
			e.must("POST", path(bobsRoom, "/join"), alice, map[string]any{}, nil)
			e.send(bob, bobsRoom, "late", "after alice joined")
			e.must("POST", path(joinedOnly, "/join"), alice, map[string]any{}, nil)
			e.send(bob, joinedOnly, "seen", "after alice joined")
			invited := e.createRoom(bob, map[string]any{"preset": "private_chat", "name": "invite", "invite": []string{aliceID}})
			// Room 8: only typing.
			e.must("PUT", path(rooms[8], "/typing/"+url.PathEscape(aliceID)), alice, map[string]any{"typing": true, "timeout": 30000}, nil)

			all := append([]string{bobsRoom, joinedOnly, invited, pad}, rooms...)
			for name, rf := range filters {
				for _, tok := range []string{"", since} {
					kind := "incremental"
					if tok == "" {
						kind = "initial"
					}
					t.Run(name+"/"+kind, func(t *testing.T) {
						whole := syncRooms(t, e, alice, tok, rf, nil)
						for _, id := range all {
							one := syncRooms(t, e, alice, tok, rf, []string{id})
							for _, sec := range []string{"join", "leave", "invite"} {
								if diff := cmp.Diff(one[sec][id], whole[sec][id]); diff != "" {
									t.Errorf("rooms.%s of %s: alone (-) and with the others (+):\n%s", sec, id, diff)
								}
							}
						}
						if tok == "" {
							return
						}
						// The mix has what it is meant to have.
						join := whole["join"]
						if _, ok := whole["leave"][rooms[6]]; !ok {
							t.Error("the room alice left is not in rooms.leave")
						}
						if _, ok := whole["invite"][invited]; !ok {
							t.Error("the invite is not in rooms.invite")
						}
						for _, id := range []string{rooms[0], rooms[1], rooms[2], rooms[3], rooms[4], rooms[5], rooms[7], rooms[8], bobsRoom} {
							if _, ok := join[id]; !ok {
								t.Errorf("room %s is not in rooms.join", id)
							}
						}
						if name == "none" {
							if got := pick(join[rooms[0]], "timeline", "limited"); got != true {
								t.Errorf("room 0: limited = %v, want true", got)
							}
							if got := pick(join[rooms[0]], "unread_notifications", "highlight_count"); got != 1.0 {
								t.Errorf("room 0: highlight_count = %v, want 1", got)
							}
							if got := pick(join[rooms[2]], "unread_notifications", "notification_count"); got != 1.0 {
								t.Errorf("room 2: notification_count = %v, want 1", got)
							}
							evs, _ := pick(join[joinedOnly], "timeline", "events").([]any)
							bodies := []any{}
							for _, ev := range evs {
								if b := pick(ev, "content", "body"); b != nil {
									bodies = append(bodies, b)
								}
							}
							if diff := cmp.Diff([]any{"after alice joined"}, bodies); diff != "" {
								t.Errorf("joined-only room's messages (-want +got):\n%s", diff)
							}
						}
						if name == "threads, lazy" {
							if got := pick(join[rooms[1]], "unread_thread_notifications", root, "notification_count"); got != 1.0 {
								t.Errorf("room 1: thread notification_count = %v, want 1", got)
							}
						}
					})
				}
			}
		})
	}
}

// syncRooms runs a /sync of token's user (incremental from since unless
// ""), with the room filter rf limited to rooms when not nil, and returns
// its room sections by kind and room ID, without the events' ages.
func syncRooms(t *testing.T, e *syncEnv, token, since string, rf map[string]any, rooms []string) map[string]map[string]any {
	t.Helper()
	room := map[string]any{}
	for k, v := range rf {
		room[k] = v
	}
	if rooms != nil {
		room["rooms"] = rooms
	}
	filter, err := json.Marshal(map[string]any{"room": room})
	if err != nil {
		t.Fatal(err)
	}
	_, r := e.sync(token, "since", since, "filter", string(filter))
	var out struct {
		Rooms map[string]map[string]any `json:"rooms"`
	}
	r.JSON(t, &out)
	for _, secs := range out.Rooms {
		for _, s := range secs {
			dropAges(s)
		}
	}
	return out.Rooms
}

// dropAges removes every "age" member (unsigned.age changes between two
// requests).
func dropAges(v any) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "age")
		for _, y := range x {
			dropAges(y)
		}
	case []any:
		for _, y := range x {
			dropAges(y)
		}
	}
}

// pick follows keys through nested JSON objects.
func pick(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
