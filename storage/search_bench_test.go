//go:build !js

// The search benchmark reads the process's CPU time (getrusage), which
// the browser build has not.

package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// benchWords is the load tool's vocabulary (cmd/hearth-load): with 8 to
// 15 words a message, each word is in about a fifth of the messages.
var benchWords = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima
mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
harbour lantern meadow copper willow ember granite thistle orchard falcon pebble saffron
tundra velvet walnut quartz marble beacon canyon drizzle glacier hazel island jasper kestrel`)

// searchCorpus is alice's rooms filled the way the soak fills them: half
// the messages in the first room, the rest spread over the others.
type searchCorpus struct {
	s     *EventStore
	rooms []*testRoom
	depth []int64
	rng   *rand.Rand
	n     int
}

func newSearchCorpus(tb testing.TB, rooms int) *searchCorpus {
	tb.Helper()
	alice := "@alice:" + testServer
	c := &searchCorpus{s: newTestStore(tb), rng: rand.New(rand.NewPCG(1, 2))}
	for i := range rooms {
		r := newTestRoom(tb, c.s, fmt.Sprint("corpus ", i))
		join := r.member(fmt.Sprint("corpus join ", i), 1, alice, "join")
		r.persist(core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: r.id,
			Changes: core.StateMap{{Type: join.Type, StateKey: alice}: join.EventID}}}}, join)
		c.rooms = append(c.rooms, r)
		c.depth = append(c.depth, 1)
	}
	return c
}

// fill adds messages until the corpus holds n, in batches of 500.
func (c *searchCorpus) fill(tb testing.TB, n int) {
	tb.Helper()
	for c.n < n {
		byRoom := map[int][]core.NewEvent{}
		for range min(500, n-c.n) {
			ri := 0
			if c.rng.IntN(2) == 1 {
				ri = c.rng.IntN(len(c.rooms))
			}
			r := c.rooms[ri]
			c.depth[ri]++
			words := make([]string, 8+c.rng.IntN(8))
			for i := range words {
				words[i] = benchWords[c.rng.IntN(len(benchWords))]
			}
			ev := withContent(r.msg(fmt.Sprint("corpus msg ", c.n), c.depth[ri]), "",
				`{"msgtype":"m.text","body":"`+strings.Join(words, " ")+`"}`)
			byRoom[ri] = append(byRoom[ri], ev)
			c.n++
		}
		for ri, evs := range byRoom {
			c.rooms[ri].persist(core.PersistOptions{}, evs...)
		}
	}
}

// BenchmarkSearch times the store's parts of a /search of all of alice's
// rooms (clientsync.Service.Search) as the database grows: the page of
// results by rank (afresh, and from the window kept by the search before)
// and by recency, the count of what follows the joins
// (afresh, and kept from the search before), and the walk of what
// precedes them; for one whole word and for a short
// prefix. Its cost should not grow with the number of messages.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	c := newSearchCorpus(b, benchRooms)
	alice := "@alice:" + testServer
	all := []string{clientsync.KeyBody, clientsync.KeyName, clientsync.KeyTopic}
	for _, n := range []int{3_000, 10_000, 30_000} {
		c.fill(b, n)
		for _, term := range []string{"lantern", "ha"} {
			q := clientsync.SearchQuery{Member: alice, Words: []string{term}, Keys: all, Limit: 10}
			for _, tc := range []struct {
				name string
				run  func() (int, error)
			}{
				{"rank-fresh", func() (int, error) {
					// Ranked afresh (searchrankcache.go).
					c.s.db.search.counts.stale()
					hits, err := c.s.SearchEvents(ctx, q)
					return len(hits), err
				}},
				{"rank", func() (int, error) {
					// The window kept by the search before.
					hits, err := c.s.SearchEvents(ctx, q)
					return len(hits), err
				}},
				{"recent", func() (int, error) {
					q := q
					q.Recent = true
					hits, err := c.s.SearchEvents(ctx, q)
					return len(hits), err
				}},
				{"count", func() (int, error) {
					// Counted afresh (searchcountcache.go).
					c.s.db.search.counts.stale()
					q := q
					q.Scope = clientsync.ScopeAfterJoin
					return c.s.CountSearch(ctx, q, nil, 2_000)
				}},
				{"count-kept", func() (int, error) {
					// The count kept by the one before (at the cap here).
					q := q
					q.Scope = clientsync.ScopeAfterJoin
					return c.s.CountSearch(ctx, q, nil, 2_000)
				}},
				{"before-join", func() (int, error) {
					q := q
					q.Scope, q.Recent, q.Limit = clientsync.ScopeBeforeJoin, true, 500
					hits, err := c.s.SearchEvents(ctx, q)
					return len(hits), err
				}},
			} {
				b.Run(fmt.Sprintf("%s/%s/%d", tc.name, term, n), func(b *testing.B) {
					var got int
					cpu := cpuTime(b)
					for b.Loop() {
						var err error
						if got, err = tc.run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
					b.ReportMetric(float64(got), "results")
				})
			}
		}
	}
}

// cpuTime is the CPU time the process has used (user and system): on a
// shared machine it says more about a change than the wall clock.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRooms is how many rooms alice is in (the soak makes thousands).
var benchRooms = 20
