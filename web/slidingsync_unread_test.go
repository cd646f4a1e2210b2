package web

import (
	"fmt"
	"net/url"
	"testing"
)

// Sliding sync reads the unread counts of all the rooms of a response
// together. Each room's notification_count and highlight_count must be
// what /sync gives for it (its unread_notifications, which counts the
// threads too), in a mix of rooms: a mention, a partly read room, a thread
// read in the thread, a room with nothing unread, rooms of different
// counts; on a first request and after news in some rooms.
func TestSlidingSyncUnreadCountsPerRoom(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	aliceID := "@alice:" + roomTestServer
	path := func(room, rest string) string { return cs + "/rooms/" + url.PathEscape(room) + rest }
	rooms := make([]string, 8)
	for i := range rooms {
		rooms[i] = e.createRoom(alice, map[string]any{"preset": "public_chat", "name": fmt.Sprint("room ", i)})
		e.must("POST", path(rooms[i], "/join"), bob, map[string]any{}, nil)
	}
	// Room 0: three messages and a mention.
	for i := range 3 {
		e.send(bob, rooms[0], fmt.Sprint("m", i), "hello")
	}
	e.sendContent(bob, rooms[0], "mention", map[string]any{"msgtype": "m.text", "body": "hello alice",
		"m.mentions": map[string]any{"user_ids": []string{aliceID}}})
	// Room 1: a thread of two replies, read in the thread up to the
	// first, and a message in the main timeline.
	root := e.send(bob, rooms[1], "root", "thread root")
	reply := e.sendContent(bob, rooms[1], "r1", map[string]any{"msgtype": "m.text", "body": "reply 1", "m.relates_to": relatesTo("m.thread", root)})
	e.sendContent(bob, rooms[1], "r2", map[string]any{"msgtype": "m.text", "body": "reply 2", "m.relates_to": relatesTo("m.thread", root)})
	e.send(bob, rooms[1], "main", "main timeline")
	e.must("POST", path(rooms[1], "/receipt/m.read/"+url.PathEscape(reply)), alice, map[string]any{"thread_id": root}, nil)
	// Room 2: five messages, the first two read.
	var read string
	for i := range 5 {
		id := e.send(bob, rooms[2], fmt.Sprint("p", i), "partly read")
		if i == 1 {
			read = id
		}
	}
	e.must("POST", path(rooms[2], "/receipt/m.read/"+url.PathEscape(read)), alice, map[string]any{}, nil)
	// Room 3: alice's own message only; rooms 4-7: two messages each.
	e.send(alice, rooms[3], "own", "mine")
	for i := 4; i < len(rooms); i++ {
		for j := range i - 2 {
			e.send(bob, rooms[i], fmt.Sprint("n", i, "-", j), "news")
		}
	}

	// check compares every room of a sliding sync response with /sync's
	// counts, and returns the rooms it held.
	check := func(t *testing.T, resp slidingResponse) int {
		t.Helper()
		whole := syncRooms(t, e, alice, "", nil, nil)["join"]
		n := 0
		for id, r := range resp.Rooms {
			n++
			if r.Notification == nil || r.Highlight == nil {
				t.Errorf("room %s: notification_count %v, highlight_count %v, want both", id, r.Notification, r.Highlight)
				continue
			}
			want := func(key string) int {
				v, _ := pick(whole[id], "unread_notifications", key).(float64)
				return int(v)
			}
			if *r.Notification != want("notification_count") || *r.Highlight != want("highlight_count") {
				t.Errorf("room %s: sliding sync counts %d/%d, /sync %d/%d", id, *r.Notification, *r.Highlight,
					want("notification_count"), want("highlight_count"))
			}
		}
		return n
	}
	first := e.slide(alice, "", allRooms(9, 3))
	if n := check(t, first); n != len(rooms) {
		t.Fatalf("first response has %d rooms, want %d", n, len(rooms))
	}
	// The mix has what it is meant to have.
	for i, want := range map[int][2]int{0: {4, 1}, 1: {3, 0}, 2: {3, 0}, 3: {0, 0}} {
		if got := countsOf(first, rooms[i]); got != want {
			t.Errorf("room %d: counts %v, want %v", i, got, want)
		}
	}

	// News in three rooms (one of them a mention), and room 2 read up to
	// its end: the next response carries the rooms with news.
	e.send(bob, rooms[4], "more", "more news")
	e.sendContent(bob, rooms[5], "mention2", map[string]any{"msgtype": "m.text", "body": "alice again",
		"m.mentions": map[string]any{"user_ids": []string{aliceID}}})
	last := e.send(bob, rooms[2], "last", "the end")
	e.must("POST", path(rooms[2], "/receipt/m.read/"+url.PathEscape(last)), alice, map[string]any{}, nil)
	next := e.slide(alice, first.Pos, allRooms(9, 3))
	if n := check(t, next); n != 3 {
		t.Fatalf("incremental response has %d rooms, want the 3 with news", n)
	}
	for i, want := range map[int][2]int{2: {0, 0}, 4: {3, 0}, 5: {4, 1}} {
		if got := countsOf(next, rooms[i]); got != want {
			t.Errorf("room %d after the news: counts %v, want %v", i, got, want)
		}
	}
}

// countsOf returns a room's notification and highlight counts in a
// sliding sync response (-1 for a count it lacks).
func countsOf(resp slidingResponse, roomID string) [2]int {
	out := [2]int{-1, -1}
	if r, ok := resp.Rooms[roomID]; ok {
		if r.Notification != nil {
			out[0] = *r.Notification
		}
		if r.Highlight != nil {
			out[1] = *r.Highlight
		}
	}
	return out
}
