package typing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTyping(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	notified := 0
	tr := New(c.now, func() { notified++ })
	start := tr.Position()
	if start != c.t.UnixMilli() {
		t.Errorf("first position = %d, want the clock's milliseconds %d", start, c.t.UnixMilli())
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
		c.t = c.t.Add(st.advance)
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
	c.t = c.t.Add(31 * time.Second)
	if got := tr.Typing(room); len(got) != 0 {
		t.Errorf("after the timeout: %v", got)
	}
	end := tr.Position()
	if end <= mid {
		t.Errorf("expiry did not move the position: %d -> %d", mid, end)
	}
	got := tr.Changes(inRooms(room, other, "!none:x"), start, end)
	want := map[string][]string{room: {}, other: {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes (-want +got):\n%s", diff)
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
	c.t = c.t.Add(MaxTimeout + time.Second)
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
	c := &clock{time.UnixMilli(1_700_000_000_000)}
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
	c.t = c.t.Add(11 * time.Second)
	tr.Position()
	tr.Typing("!a:x")
	want := []string{"!a:x [@bob:x]", "!b:x []"}
	if diff := cmp.Diff(want, heard); diff != "" {
		t.Errorf("heard after 11 s (-want +got):\n%s", diff)
	}
	c.t = c.t.Add(20 * time.Second)
	tr.fire()
	if diff := cmp.Diff(append(want, "!a:x []"), heard); diff != "" {
		t.Errorf("heard after the timer (-want +got):\n%s", diff)
	}
}

// Rooms where everyone stopped or timed out leave the set that expiry
// walks, and keep their position for /sync; a room typed in again comes
// back to it and still times out.
func TestTypingActiveRooms(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	tr := New(c.now, nil)
	start := tr.Position()
	for i := range 100 {
		room := fmt.Sprintf("!r%d:x", i)
		if err := tr.SetTyping(ctx, room, "@alice:x", true, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := tr.SetTyping(ctx, room, "@alice:x", false, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(tr.active); n != 50 {
		t.Errorf("%d rooms with someone typing, want 50", n)
	}
	c.t = c.t.Add(11 * time.Second)
	if got := tr.Typing("!r1:x"); len(got) != 0 {
		t.Errorf("after the timeout, typing in !r1:x = %v", got)
	}
	if n := len(tr.active); n != 0 {
		t.Errorf("%d rooms with someone typing after every timeout, want 0", n)
	}
	if ch := tr.Changes(inRooms("!r0:x", "!r1:x"), start, tr.Position()); len(ch) != 2 || len(ch["!r0:x"]) != 0 || len(ch["!r1:x"]) != 0 {
		t.Errorf("changes since the start = %v, want both rooms with no one typing", ch)
	}
	if err := tr.SetTyping(ctx, "!r1:x", "@bob:x", true, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := tr.Typing("!r1:x"); !cmp.Equal(got, []string{"@bob:x"}) {
		t.Errorf("typing in !r1:x = %v, want [@bob:x]", got)
	}
	c.t = c.t.Add(6 * time.Second)
	if got := tr.Typing("!r1:x"); len(got) != 0 {
		t.Errorf("after bob's timeout, typing in !r1:x = %v", got)
	}
}

// inRooms is Changes' test of membership in ids.
func inRooms(ids ...string) func(string) bool {
	return func(id string) bool { return slices.Contains(ids, id) }
}

// Changes, which reads the log of changes from since, gives what a look
// at every room would: over random typing, stops and expiries in 300
// rooms (the log compacted many times), for ranges (since, to] between
// positions taken along the way.
func TestChangesFollowsLog(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	tr := New(c.now, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	all := func(string) bool { return true }
	var positions []int64
	for step := range 3000 {
		room := fmt.Sprintf("!r%d:x", rng.IntN(300))
		user := fmt.Sprintf("@u%d:x", rng.IntN(3))
		if err := tr.SetTyping(ctx, room, user, rng.IntN(3) > 0, time.Duration(rng.IntN(4000))*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		c.t = c.t.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
		if step%100 != 0 {
			continue
		}
		positions = append(positions, tr.Position())
		for k, since := range positions {
			to := positions[k+(len(positions)-k)/2]
			got := tr.Changes(all, since, to)
			tr.mu.Lock()
			want := map[string][]string{}
			for id, r := range tr.rooms {
				if r.changed > since && r.changed <= to {
					want[id] = tr.usersLocked(id)
				}
			}
			if n := len(tr.log); n > 2*len(tr.rooms)+64 {
				t.Errorf("step %d: log of %d changes for %d rooms", step, n, len(tr.rooms))
			}
			tr.mu.Unlock()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("step %d: Changes(%d, %d) differs from every room's (-rooms +log):\n%s", step, since, to, diff)
			}
		}
	}
}

// BenchmarkChangesManyRooms: typing was seen in 10,000 rooms (no one
// types there now); a sync asks
// what changed since one more change.
func BenchmarkChangesManyRooms(b *testing.B) {
	ctx := context.Background()
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	tr := New(c.now, nil)
	for i := range 10000 {
		_ = tr.SetTyping(ctx, fmt.Sprintf("!r%d:x", i), "@u:x", true, time.Minute)
		_ = tr.SetTyping(ctx, fmt.Sprintf("!r%d:x", i), "@u:x", false, 0)
	}
	all := func(string) bool { return true }
	for b.Loop() {
		since := tr.Position()
		_ = tr.SetTyping(ctx, "!r1:x", "@v:x", true, time.Minute)
		_ = tr.SetTyping(ctx, "!r1:x", "@v:x", false, 0)
		if len(tr.Changes(all, since, tr.Position())) != 1 {
			b.Fatal("one room changed")
		}
	}
}
