package typing

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// clock is the tests' clock. The tracker's expiry timer runs on its own
// goroutine and reads it, so it is read and moved under a lock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestTyping(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.UnixMilli(1_700_000_000_000))
	notified := 0
	tr := New(c.now, func() { notified++ })
	start := tr.Position()
	if start != c.now().UnixMilli() {
		t.Errorf("first position = %d, want the clock's milliseconds %d", start, c.now().UnixMilli())
	}
	const room, other = "!r:x", "!o:x"
	steps := []struct {
		name    string
		advance time.Duration
		room    string
		user    string
		typing  bool
		timeout time.Duration
		want    []string // typing in room afterwards
		change  bool
	}{
		{"alice starts", 0, room, "@alice:x", true, 30 * time.Second, []string{"@alice:x"}, true},
		{"bob starts", time.Second, room, "@bob:x", true, 10 * time.Second, []string{"@alice:x", "@bob:x"}, true},
		{"alice again", time.Second, room, "@alice:x", true, 30 * time.Second, []string{"@alice:x", "@bob:x"}, false},
		{"carol elsewhere", 0, other, "@carol:x", true, 30 * time.Second, []string{"@alice:x", "@bob:x"}, true},
		{"bob stops", 0, room, "@bob:x", false, 0, []string{"@alice:x"}, true},
		{"bob stops twice", 0, room, "@bob:x", false, 0, []string{"@alice:x"}, false},
		{"stranger stops", 0, "!none:x", "@bob:x", false, 0, []string{"@alice:x"}, false},
		{"zero timeout is not typing", 0, room, "@dan:x", true, 0, []string{"@alice:x"}, false},
	}
	for _, st := range steps {
		c.add(st.advance)
		before, n := tr.Position(), notified
		if err := tr.SetTyping(ctx, st.room, st.user, st.typing, st.timeout); err != nil {
			t.Fatal(err)
		}
		if got := tr.Typing(room); !cmp.Equal(got, st.want) {
			t.Errorf("%s: typing = %v, want %v", st.name, got, st.want)
		}
		if changed := tr.Position() != before; changed != st.change || (notified != n) != st.change {
			t.Errorf("%s: position moved %v, notified %v; want %v", st.name, changed, notified != n, st.change)
		}
	}
	mid := tr.Position()
	// Alice's 30 s run out (her last request was 1 s after bob's start).
	c.add(31 * time.Second)
	if got := tr.Typing(room); len(got) != 0 {
		t.Errorf("after the timeout: %v", got)
	}
	end := tr.Position()
	if end <= mid {
		t.Errorf("expiry did not move the position: %d -> %d", mid, end)
	}
	// A client at mid saw alice typing in room and carol in other: it
	// gets both lists, now empty.
	got := tr.Changes(inRooms(room, other, "!none:x"), mid, end)
	want := map[string][]string{room: {}, other: {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes from mid (-want +got):\n%s", diff)
	}
	// A client at start saw no one typing anywhere: nothing to tell it.
	if got := tr.Changes(inRooms(room, other, "!none:x"), start, end); len(got) != 0 {
		t.Errorf("Changes from before anyone typed = %v, want none", got)
	}
	if got := tr.Changes(inRooms(room), end, end); len(got) != 0 {
		t.Errorf("Changes(end, end) = %v", got)
	}
	if got := tr.Changes(inRooms(other), start, start+1); len(got) != 0 {
		t.Errorf("carol's change is not in (start, start+1]: %v", got)
	}
	if err := tr.SetTyping(ctx, room, "@eve:x", true, time.Hour); err != nil {
		t.Fatal(err)
	}
	c.add(MaxTimeout + time.Second)
	if got := tr.Typing(room); len(got) != 0 {
		t.Errorf("an hour's timeout outlived MaxTimeout: %v", got)
	}
}

// TestTypingTimer checks that an expiry wakes waiters without any request.
func TestTypingTimer(t *testing.T) {
	woke := make(chan struct{}, 4)
	tr := New(nil, func() { woke <- struct{}{} })
	if err := tr.SetTyping(context.Background(), "!r:x", "@a:x", true, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	<-woke // the start
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification for the expiry")
	}
	if got := tr.Typing("!r:x"); len(got) != 0 {
		t.Errorf("typing after expiry: %v", got)
	}
}

// TestOnExpire checks that the expiry hook hears of each room whose list
// a timeout changed, once, with the users still typing, and not of
// explicit changes.
func TestOnExpire(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.UnixMilli(1_700_000_000_000))
	tr := New(c.now, nil)
	var heard []string
	tr.OnExpire(func(roomID string, users []string) { heard = append(heard, roomID+" "+fmt.Sprint(users)) })
	tr.SetTyping(ctx, "!a:x", "@alice:x", true, 10*time.Second)
	tr.SetTyping(ctx, "!a:x", "@bob:x", true, 30*time.Second)
	tr.SetTyping(ctx, "!b:x", "@carol:x", true, 10*time.Second)
	tr.SetTyping(ctx, "!c:x", "@dan:x", true, 10*time.Second)
	tr.SetTyping(ctx, "!c:x", "@dan:x", false, 0)
	if len(heard) != 0 {
		t.Fatalf("explicit changes reached the hook: %v", heard)
	}
	c.add(11 * time.Second)
	tr.Position()
	tr.Typing("!a:x")
	want := []string{"!a:x [@bob:x]", "!b:x []"}
	if diff := cmp.Diff(want, heard); diff != "" {
		t.Errorf("heard after 11 s (-want +got):\n%s", diff)
	}
	c.add(20 * time.Second)
	tr.fire()
	if diff := cmp.Diff(append(want, "!a:x []"), heard); diff != "" {
		t.Errorf("heard after the timer (-want +got):\n%s", diff)
	}
}

// Rooms where everyone stopped or timed out are dropped; a sync token
// that saw someone typing there still gets the empty list, also when the
// room was typed in again and dropped again in between; rooms no token
// saw typing are not remembered at all.
func TestTypingDropsRooms(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.UnixMilli(1_700_000_000_000))
	tr := New(c.now, nil)
	all := func(string) bool { return true }
	before := tr.Position()
	for i := range 100 {
		if err := tr.SetTyping(ctx, fmt.Sprintf("!r%d:x", i), "@alice:x", true, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	saw := tr.Position() // a sync token that saw alice typing in 100 rooms
	for i := range 50 {
		if err := tr.SetTyping(ctx, fmt.Sprintf("!r%d:x", i), "@alice:x", false, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Typed in and stopped with no token given out in between: no one saw it.
	if err := tr.SetTyping(ctx, "!unseen:x", "@bob:x", true, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetTyping(ctx, "!unseen:x", "@bob:x", false, 0); err != nil {
		t.Fatal(err)
	}
	c.add(10 * time.Second)
	now := tr.Position()
	if n, g := len(tr.rooms), len(tr.gone); n != 0 || g != 100 {
		t.Errorf("after every stop and timeout: %d rooms held, %d remembered; want 0 and 100", n, g)
	}
	got := tr.Changes(all, saw, now)
	if len(got) != 100 {
		t.Errorf("a token that saw 100 rooms' typing gets %d rooms", len(got))
	}
	for id, users := range got {
		if users == nil || len(users) != 0 {
			t.Errorf("%s: %#v, want an empty list", id, users)
		}
	}
	if got := tr.Changes(all, before, now); len(got) != 0 {
		t.Errorf("a token from before anyone typed gets %v", got)
	}
	if got := tr.Changes(all, now, now); len(got) != 0 {
		t.Errorf("a token from after everyone stopped gets %v", got)
	}

	// !r0:x again: bob types and times out; the token that saw alice
	// there still hears it is empty.
	if err := tr.SetTyping(ctx, "!r0:x", "@bob:x", true, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mid := tr.Position()
	c.add(5 * time.Second)
	end := tr.Position()
	if _, held := tr.rooms["!r0:x"]; held {
		t.Error("!r0:x still held after bob's timeout")
	}
	for _, since := range []int64{saw, mid} {
		if got := tr.Changes(inRooms("!r0:x"), since, end); !cmp.Equal(got, map[string][]string{"!r0:x": {}}) {
			t.Errorf("Changes from %d (someone typing then) = %v, want !r0:x empty", since, got)
		}
	}
	if len(tr.log) > 2*(len(tr.rooms)+len(tr.gone))+64 {
		t.Errorf("log of %d changes for %d rooms", len(tr.log), len(tr.rooms)+len(tr.gone))
	}
}

// At most remember rooms where everyone stopped are kept, the latest.
func TestTypingRemembersLatest(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.UnixMilli(1_700_000_000_000))
	tr := New(c.now, nil)
	tr.remember = 10
	for i := range 1000 {
		room := fmt.Sprintf("!r%d:x", i)
		_ = tr.SetTyping(ctx, room, "@alice:x", true, time.Minute)
		tr.Position()
		_ = tr.SetTyping(ctx, room, "@alice:x", false, 0)
		if len(tr.gone) > 10 || len(tr.order) > 20 {
			t.Fatalf("after %d rooms: %d remembered in a list of %d", i+1, len(tr.gone), len(tr.order))
		}
	}
	for i := 990; i < 1000; i++ {
		if _, ok := tr.gone[fmt.Sprintf("!r%d:x", i)]; !ok {
			t.Errorf("!r%d:x, among the last 10 to stop, is not remembered", i)
		}
	}
	if len(tr.log) > 2*len(tr.gone)+64 {
		t.Errorf("log of %d changes for %d rooms", len(tr.log), len(tr.gone))
	}
}

// Timeouts end at their deadline on the fake clock, a new timeout
// replaces the old one (later or earlier), and the timer is set for the
// earliest deadline.
func TestTypingDeadlines(t *testing.T) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_700_000_000_000)
	c := newClock(t0)
	tr := New(c.now, nil)
	at := func(d time.Duration) { c.set(t0.Add(d)) }
	typing := func(room string) []string { return tr.Typing(room) }
	_ = tr.SetTyping(ctx, "!a:x", "@alice:x", true, 10*time.Second)
	_ = tr.SetTyping(ctx, "!b:x", "@bob:x", true, 30*time.Second)
	_ = tr.SetTyping(ctx, "!c:x", "@carol:x", true, 30*time.Second)
	if !tr.next.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("timer set for %v, want alice's deadline %v", tr.next, t0.Add(10*time.Second))
	}
	at(5 * time.Second)
	_ = tr.SetTyping(ctx, "!a:x", "@alice:x", true, 10*time.Second) // now until 15 s
	_ = tr.SetTyping(ctx, "!c:x", "@carol:x", true, 2*time.Second)  // now until 7 s
	at(7*time.Second - time.Millisecond)
	if got := typing("!c:x"); len(got) != 1 {
		t.Errorf("carol's typing ended before her shorter timeout: %v", got)
	}
	at(7 * time.Second)
	if got := typing("!c:x"); len(got) != 0 {
		t.Errorf("carol typing at her shorter deadline: %v", got)
	}
	at(10 * time.Second)
	if got := typing("!a:x"); !cmp.Equal(got, []string{"@alice:x"}) {
		t.Errorf("alice's renewed timeout ended at the old deadline: %v", got)
	}
	at(15*time.Second - time.Millisecond)
	if got := typing("!a:x"); len(got) != 1 {
		t.Errorf("alice stopped before her renewed deadline: %v", got)
	}
	at(15 * time.Second)
	if got := typing("!a:x"); len(got) != 0 {
		t.Errorf("alice typing at her renewed deadline: %v", got)
	}
	if got := typing("!b:x"); !cmp.Equal(got, []string{"@bob:x"}) {
		t.Errorf("bob stopped early: %v", got)
	}
	at(30 * time.Second)
	if got := typing("!b:x"); len(got) != 0 {
		t.Errorf("bob typing at his deadline: %v", got)
	}
	if len(tr.rooms) != 0 || tr.typing != 0 || len(tr.deadlines) != 0 {
		t.Errorf("after every deadline: %d rooms, %d typing, %d deadlines", len(tr.rooms), tr.typing, len(tr.deadlines))
	}
	// Renewals leave stale deadlines behind; they do not pile up.
	for i := range 10000 {
		at(30*time.Second + time.Duration(i)*time.Millisecond)
		_ = tr.SetTyping(ctx, "!a:x", "@alice:x", true, 10*time.Second)
	}
	if n := len(tr.deadlines); n > 2*1+64+1 {
		t.Errorf("%d deadlines kept for one typing user", n)
	}
}

// inRooms is Changes' test of membership in ids.
func inRooms(ids ...string) func(string) bool {
	return func(id string) bool { return slices.Contains(ids, id) }
}

// A client that syncs from any token it was given, in one step or two,
// ends with every room's current list: over random typing, stops and
// expiries in 300 rooms (dropped, typed in again, the log compacted many
// times). The client's view at a token is every room's list then.
func TestChangesKeepClientsCurrent(t *testing.T) {
	ctx := context.Background()
	c := newClock(time.UnixMilli(1_700_000_000_000))
	tr := New(c.now, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	all := func(string) bool { return true }
	const rooms = 300
	lists := func() map[string][]string {
		m := map[string][]string{}
		for i := range rooms {
			id := fmt.Sprintf("!r%d:x", i)
			if users := tr.Typing(id); len(users) > 0 {
				m[id] = users
			}
		}
		return m
	}
	type token struct {
		pos  int64
		view map[string][]string
	}
	var tokens []token
	apply := func(view, changes map[string][]string) map[string][]string {
		out := maps.Clone(view)
		for id, users := range changes {
			if len(users) == 0 {
				delete(out, id)
			} else {
				out[id] = users
			}
		}
		return out
	}
	for step := range 3000 {
		room := fmt.Sprintf("!r%d:x", rng.IntN(rooms))
		user := fmt.Sprintf("@u%d:x", rng.IntN(3))
		if err := tr.SetTyping(ctx, room, user, rng.IntN(3) > 0, time.Duration(rng.IntN(4000))*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		c.add(time.Duration(rng.IntN(200)) * time.Millisecond)
		if step%20 != 0 {
			continue
		}
		now := tr.Position()
		cur := lists()
		for k, tok := range tokens {
			got := tr.Changes(all, tok.pos, now)
			if diff := cmp.Diff(cur, apply(tok.view, got), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("step %d: client at %d after Changes(%d, %d) (-now +client):\n%s", step, tok.pos, tok.pos, now, diff)
			}
			// An empty list goes only to a client that saw someone typing
			// there, at its token or (between two runs of typing) before.
			for id, users := range got {
				if len(users) == 0 && !slices.ContainsFunc(tokens[:k+1], func(tok token) bool { return len(tok.view[id]) > 0 }) {
					t.Errorf("step %d: %s reported empty to a client at %d that never saw anyone typing there", step, id, tok.pos)
				}
			}
			mid := tokens[k+(len(tokens)-k)/2]
			two := apply(apply(tok.view, tr.Changes(all, tok.pos, mid.pos)), tr.Changes(all, mid.pos, now))
			if diff := cmp.Diff(cur, two, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("step %d: client at %d syncing via %d (-now +client):\n%s", step, tok.pos, mid.pos, diff)
			}
		}
		tokens = append(tokens, token{now, cur})
		if n := len(tr.log); n > 2*(len(tr.rooms)+len(tr.gone))+64 {
			t.Errorf("step %d: log of %d changes for %d rooms", step, n, len(tr.rooms)+len(tr.gone))
		}
	}
}

// BenchmarkChangesManyRooms: typing was seen in 10,000 rooms (no one
// types there now); a sync that saw someone typing in one more room asks
// what changed since: that they stopped.
func BenchmarkChangesManyRooms(b *testing.B) {
	ctx := context.Background()
	c := newClock(time.UnixMilli(1_700_000_000_000))
	tr := New(c.now, nil)
	for i := range 10000 {
		_ = tr.SetTyping(ctx, fmt.Sprintf("!r%d:x", i), "@u:x", true, time.Minute)
		_ = tr.SetTyping(ctx, fmt.Sprintf("!r%d:x", i), "@u:x", false, 0)
	}
	all := func(string) bool { return true }
	for b.Loop() {
		_ = tr.SetTyping(ctx, "!r1:x", "@v:x", true, time.Minute)
		since := tr.Position() // the sync saw v typing
		_ = tr.SetTyping(ctx, "!r1:x", "@v:x", false, 0)
		if len(tr.Changes(all, since, tr.Position())) != 1 {
			b.Fatal("one room changed")
		}
	}
}

// BenchmarkPositionManyRooms: someone typed in rooms rooms, and 1 in 100
// of them still has someone typing (with a timeout yet to come); a sync
// takes the stream's position. heap-B/op is what the tracker holds
// after the rooms were typed in.
func BenchmarkPositionManyRooms(b *testing.B) {
	for _, rooms := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint("rooms=", rooms), func(b *testing.B) {
			ctx := context.Background()
			c := newClock(time.UnixMilli(1_700_000_000_000))
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			held := ms.HeapAlloc
			tr := New(c.now, nil)
			for i := range rooms {
				room := fmt.Sprintf("!r%d:x", i)
				_ = tr.SetTyping(ctx, room, "@u:x", true, time.Minute)
				tr.Position() // a sync saw it
				if i%100 != 0 {
					_ = tr.SetTyping(ctx, room, "@u:x", false, 0)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			held = ms.HeapAlloc - held
			b.ResetTimer()
			for b.Loop() {
				tr.Position()
			}
			b.ReportMetric(float64(held), "heap-B")
			runtime.KeepAlive(tr)
		})
	}
}
