package web

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// fillRoom sends n text messages to a new room of a new user and returns
// the user's token and the room.
func fillRoom(b *testing.B, e *syncEnv, n int) (string, string) {
	b.Helper()
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat", "name": "bench"})
	for i := range n {
		e.send(alice, roomID, fmt.Sprint("fill", i), fmt.Sprint("message number ", i, " with a body of an ordinary length"))
	}
	return alice, roomID
}

// BenchmarkInitialSync is an initial /sync of a user in one room of 1,000
// messages (the default timeline of 10 events and the full state).
func BenchmarkInitialSync(b *testing.B) {
	e := newSyncEnv(b)
	alice, _ := fillRoom(b, e, 1000)
	b.ReportAllocs()
	for b.Loop() {
		r := e.do("GET", cs+"/sync", alice, nil)
		if r.Status != http.StatusOK {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
	}
}

// BenchmarkIncrementalSync is an incremental /sync that finds one new
// message (the send itself is not timed).
func BenchmarkIncrementalSync(b *testing.B) {
	e := newSyncEnv(b)
	alice, roomID := fillRoom(b, e, 100)
	resp, _ := e.sync(alice)
	since := resp.NextBatch
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		e.send(alice, roomID, fmt.Sprint("inc", i), "one more")
		i++
		b.StartTimer()
		r := e.do("GET", cs+"/sync?since="+url.QueryEscape(since), alice, nil)
		b.StopTimer()
		var out syncResponse
		r.JSON(b, &out)
		if n := len(out.Rooms.Join[roomID].Timeline.Events); n != 1 {
			b.Fatalf("incremental sync has %d events, want 1", n)
		}
		since = out.NextBatch
		b.StartTimer()
	}
}

// BenchmarkMessages pages backward through a room of 10,000 messages, 100
// events a page; one iteration is one page (starting over at the newest
// event after the oldest).
func BenchmarkMessages(b *testing.B) {
	e := newSyncEnv(b)
	alice, roomID := fillRoom(b, e, 10_000)
	b.ReportAllocs()
	from := ""
	pages := 0
	for b.Loop() {
		q := "dir=b&limit=100"
		if from != "" {
			q += "&from=" + url.QueryEscape(from)
		}
		r := e.do("GET", cs+"/rooms/"+roomID+"/messages?"+q, alice, nil)
		if r.Status != http.StatusOK {
			b.Fatalf("%d %s", r.Status, r.Body)
		}
		var page struct {
			End string `json:"end"`
		}
		r.JSON(b, &page)
		from = page.End
		pages++
	}
	b.ReportMetric(100, "events/op")
}
