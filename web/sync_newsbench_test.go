package web

import (
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// statements counts the SQL statements SQLite starts on connections opened
// after countStatements was first called (triggers' statements included).
var (
	statements     atomic.Int64
	statementsOnce sync.Once
)

// countStatements makes every SQLite connection opened from now on count
// the statements it runs in statements.
func countStatements(tb testing.TB) {
	tb.Helper()
	statementsOnce.Do(func() {
		sqlite3.AutoExtension(func(c *sqlite3.Conn) error {
			return c.Trace(sqlite3.TRACE_STMT, func(sqlite3.TraceEvent, any, any) error {
				statements.Add(1)
				return nil
			})
		})
	})
}

// BenchmarkSyncNewsManyRooms: a user in 2,000 rooms, 50 of which get a
// message (sent outside the timing) before each incremental /sync. It
// reports the SQL statements per /sync.
func BenchmarkSyncNewsManyRooms(b *testing.B) {
	countStatements(b)
	e := newSyncEnv(b)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	rooms := make([]string, 2000)
	for i := range rooms {
		rooms[i] = e.createRoom(alice, map[string]any{"preset": "public_chat"})
	}
	for i := range 100 {
		e.must("POST", cs+"/rooms/"+rooms[i*20]+"/join", bob, map[string]any{}, nil)
	}
	first, _ := e.sync(alice)
	since := first.NextBatch
	n := 0
	var stmts int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for k := range 50 {
			sender := alice
			room := rooms[(n*50+k*37)%len(rooms)]
			if k%5 == 0 {
				sender, room = bob, rooms[((n+k)%100)*20]
			}
			e.send(sender, room, fmt.Sprint("n", n, "-", k), "news")
		}
		n++
		before := statements.Load()
		b.StartTimer()
		r := e.do("GET", cs+"/sync?since="+url.QueryEscape(since), alice, nil)
		b.StopTimer()
		stmts += statements.Load() - before
		var s syncResponse
		r.JSON(b, &s)
		if len(s.Rooms.Join) == 0 {
			b.Fatal("no rooms in the sync")
		}
		since = s.NextBatch
		b.StartTimer()
	}
	b.ReportMetric(float64(stmts)/float64(n), "stmts/op")
}

// BenchmarkInitialSyncManyRooms is an initial /sync of a user in 1,000
// rooms of a few events each (100 shared with another user). It reports
// the SQL statements per /sync.
func BenchmarkInitialSyncManyRooms(b *testing.B) {
	countStatements(b)
	e := newSyncEnv(b)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	rooms := make([]string, 1000)
	for i := range rooms {
		rooms[i] = e.createRoom(alice, map[string]any{"preset": "public_chat"})
		e.send(alice, rooms[i], fmt.Sprint("m", i), "hello")
	}
	for i := range 100 {
		e.must("POST", cs+"/rooms/"+rooms[i*10]+"/join", bob, map[string]any{}, nil)
	}
	var stmts, n int64
	b.ReportAllocs()
	for b.Loop() {
		before := statements.Load()
		r := e.do("GET", cs+"/sync", alice, nil)
		b.StopTimer()
		stmts += statements.Load() - before
		n++
		var s syncResponse
		r.JSON(b, &s)
		if len(s.Rooms.Join) != len(rooms) {
			b.Fatalf("%d rooms in the sync, want %d", len(s.Rooms.Join), len(rooms))
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(stmts)/float64(n), "stmts/op")
}
