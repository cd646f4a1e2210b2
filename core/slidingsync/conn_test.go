package slidingsync

import (
	"errors"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

func TestConnPositionsExpire(t *testing.T) {
	cs := newConnStore()
	now := time.Unix(1_700_000_000, 0)
	pos := cs.save("k", true, &connState{}, now)
	if _, err := cs.load("k", pos, now.Add(connIdle-time.Second)); err != nil {
		t.Fatalf("load(%q) before the idle limit: %v", pos, err)
	}
	// Used just now: the idle clock restarted.
	if _, err := cs.load("k", pos, now.Add(2*connIdle-2*time.Second)); err != nil {
		t.Fatalf("load(%q) after use: %v", pos, err)
	}
	_, err := cs.load("k", pos, now.Add(4*connIdle))
	var me *core.Error
	if !errors.As(err, &me) || me.ErrCode != "M_UNKNOWN_POS" || me.Status != 400 {
		t.Fatalf("load of an idle connection = %v, want 400 M_UNKNOWN_POS", err)
	}
}

func TestConnPositionsOfAnotherProcess(t *testing.T) {
	a, b := newConnStore(), newConnStore()
	now := time.Now()
	pos := a.save("k", true, &connState{}, now)
	b.save("k", true, &connState{}, now)
	if _, err := b.load("k", pos, now); !errors.Is(err, ErrUnknownPos) {
		t.Errorf("a position of another process loaded: %v", err)
	}
}

func TestConnFreshStartKeepsNumbersUnique(t *testing.T) {
	cs := newConnStore()
	now := time.Now()
	p1 := cs.save("k", true, &connState{}, now)
	p2 := cs.save("k", true, &connState{}, now)
	if p1 == p2 {
		t.Fatalf("two fresh starts gave the same pos %q", p1)
	}
	if _, err := cs.load("k", p1, now); !errors.Is(err, ErrUnknownPos) {
		t.Errorf("a fresh start left the old connection's pos usable: %v", err)
	}
}

func TestConnEvictsLeastRecentlyUsed(t *testing.T) {
	cs := newConnStore()
	now := time.Now()
	first := cs.save("first", true, &connState{}, now)
	for i := range maxConns {
		cs.save(string(rune('a'+i%26))+string(rune('0'+i/26)), true, &connState{}, now.Add(time.Duration(i+1)*time.Second))
	}
	if _, err := cs.load("first", first, now.Add(time.Hour/4)); !errors.Is(err, ErrUnknownPos) {
		t.Errorf("the oldest connection survived %d newer ones: %v", maxConns, err)
	}
}

func TestSelectState(t *testing.T) {
	me := "@me:x"
	sel := selectState([][]string{{"m.room.member", "$ME"}, {"m.room.name", ""}, {"m.room.member", "$LAZY"}}, me)
	cases := []struct {
		key     core.StateKey
		members map[string]bool
		want    bool
	}{
		{core.StateKey{Type: "m.room.member", StateKey: me}, nil, true},
		{core.StateKey{Type: "m.room.member", StateKey: "@other:x"}, nil, false},
		{core.StateKey{Type: "m.room.member", StateKey: "@other:x"}, map[string]bool{"@other:x": true}, true},
		{core.StateKey{Type: "m.room.name"}, nil, true},
		{core.StateKey{Type: "m.room.topic"}, nil, false},
	}
	for _, c := range cases {
		if got := sel.match(c.key, c.members); got != c.want {
			t.Errorf("match(%v, %v) = %v, want %v", c.key, c.members, got, c.want)
		}
	}
	if s := selectState(nil, me); !s.nothing {
		t.Error("no required_state selects something")
	}
	star := selectState([][]string{{"*", "*"}}, me)
	if star.nothing || !star.match(core.StateKey{Type: "x.y", StateKey: "z"}, nil) {
		t.Error("* * does not select everything")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"conn_id":"a","lists":{"all":{"ranges":[[0,19]],"timeline_limit":1,"required_state":[["*","*"]],"filters":{"is_dm":true,"room_types":[null,"m.space"]}}}}`))
	f.Add([]byte(`{"room_subscriptions":{"!a:b":{"timeline_limit":5}},"unsubscribe_rooms":["!c:d"],"extensions":{"to_device":{"enabled":true,"since":"5","limit":10}}}`))
	f.Add([]byte(`{"lists":{"a":{"ranges":[[5,1]]}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			var me *core.Error
			if !errors.As(err, &me) || me.Status != 400 {
				t.Fatalf("ParseRequest(%q) = %v, want a 400 Matrix error", body, err)
			}
			return
		}
		// What was accepted is in range.
		for _, l := range req.Lists {
			for _, r := range l.Ranges {
				if len(r) != 2 || r[0] < 0 || r[1] < r[0] {
					t.Fatalf("accepted range %v", r)
				}
			}
			if n := l.timelineLimit(); n < 0 || n > MaxTimelineLimit {
				t.Fatalf("accepted timeline_limit %d", n)
			}
		}
	})
}
