package web

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkSlidingSync1000Rooms compares sliding sync with /sync for an
// account in 1,000 rooms (each with a name and a few messages): the first
// sliding sync response for a window of 20 rooms, an incremental one
// after one new message in one room, and an initial and an incremental
// /sync on the same account. bytes/op is the size of the response body,
// stmts/op the SQL statements of a first sliding sync response.
func BenchmarkSlidingSync1000Rooms(b *testing.B) {
	countStatements(b)
	e := newSyncEnv(b)
	alice := e.user("alice", false)
	rooms := make([]string, 1000)
	for i := range rooms {
		rooms[i] = e.createRoom(alice, map[string]any{"preset": "private_chat", "name": fmt.Sprint("room ", i)})
		for j := range 3 {
			e.send(alice, rooms[i], fmt.Sprint("m", i, "-", j), fmt.Sprint("message ", j, " in room ", i))
		}
	}
	window := map[string]any{"lists": map[string]any{"all": map[string]any{
		"ranges": [][]int{{0, 19}}, "timeline_limit": 10,
		"required_state": [][]string{{"m.room.name", ""}, {"m.room.avatar", ""}, {"m.room.encryption", ""},
			{"m.room.member", "$LAZY"}, {"m.room.member", "$ME"}},
	}}}
	// Bumps go to rooms already in the window (the five newest), so an
	// incremental response carries one room with one event.
	bumped := 0
	bump := func(b *testing.B) string {
		room := rooms[len(rooms)-1-bumped%5]
		e.send(alice, room, fmt.Sprint("bump", bumped), "one more")
		bumped++
		return room
	}

	b.Run("sliding-first", func(b *testing.B) {
		b.ReportAllocs()
		size := 0
		var stmts, n int64
		for b.Loop() {
			before := statements.Load()
			r := e.doSlide(alice, "", window)
			stmts += statements.Load() - before
			n++
			if r.Status != http.StatusOK {
				b.Fatalf("%d %s", r.Status, r.Body)
			}
			size = len(r.Body)
		}
		b.ReportMetric(float64(size), "bytes/op")
		b.ReportMetric(float64(stmts)/float64(n), "stmts/op")
	})
	b.Run("sliding-incremental", func(b *testing.B) {
		pos := e.slide(alice, "", window).Pos
		b.ReportAllocs()
		size := 0
		for b.Loop() {
			b.StopTimer()
			room := bump(b)
			b.StartTimer()
			r := e.doSlide(alice, pos, window)
			b.StopTimer()
			var out slidingResponse
			r.JSON(b, &out)
			if got := out.Rooms[room].Timeline; len(got) != 1 || len(out.Rooms) != 1 {
				b.Fatalf("incremental response has rooms %v and %d events in %s, want only it with 1", keysOf(out.Rooms), len(got), room)
			}
			pos, size = out.Pos, len(r.Body)
			b.StartTimer()
		}
		b.ReportMetric(float64(size), "bytes/op")
	})
	b.Run("sync-initial", func(b *testing.B) {
		b.ReportAllocs()
		size := 0
		for b.Loop() {
			r := e.do("GET", cs+"/sync", alice, nil)
			if r.Status != http.StatusOK {
				b.Fatalf("%d %s", r.Status, r.Body)
			}
			size = len(r.Body)
		}
		b.ReportMetric(float64(size), "bytes/op")
	})
	b.Run("sync-incremental", func(b *testing.B) {
		first, _ := e.sync(alice)
		since := first.NextBatch
		b.ReportAllocs()
		size := 0
		for b.Loop() {
			b.StopTimer()
			room := bump(b)
			b.StartTimer()
			r := e.do("GET", cs+"/sync?since="+url.QueryEscape(since), alice, nil)
			b.StopTimer()
			var out syncResponse
			r.JSON(b, &out)
			if n := len(out.Rooms.Join[room].Timeline.Events); n != 1 {
				b.Fatalf("incremental sync has %d events in %s, want 1", n, room)
			}
			since, size = out.NextBatch, len(r.Body)
			b.StartTimer()
		}
		b.ReportMetric(float64(size), "bytes/op")
	})
}
