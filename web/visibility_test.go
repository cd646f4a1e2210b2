package web

import (
	"fmt"
	"slices"
	"testing"
)

// TestHistoryVisibilityAtEvent: bob joins, leaves, rejoins and leaves
// again; what he sees of the room is decided by his membership at each
// event's point in the DAG and by whether he joined at some point after it
// (client-server API, "History visibility"), not by his membership now.
// /messages, /event and /context agree.
func TestHistoryVisibilityAtEvent(t *testing.T) {
	for _, tc := range []struct {
		visibility string
		want       []string // the messages bob sees
	}{
		// m1 before his first join, m2 while joined, m3 while away, m4
		// after the rejoin, m5 after his last leave.
		{"joined", []string{"m2", "m4"}},
		{"shared", []string{"m1", "m2", "m3", "m4"}},
		{"invited", []string{"m2", "m4"}},
		{"world_readable", []string{"m1", "m2", "m3", "m4", "m5"}},
	} {
		t.Run(tc.visibility, func(t *testing.T) {
			env := newRoomEnv(t)
			alice := env.user("alice", false)
			bob := env.user("bob", false)
			roomID := env.createRoom(alice, map[string]any{"preset": "public_chat",
				"initial_state": []map[string]any{{"type": "m.room.history_visibility", "state_key": "",
					"content": map[string]any{"history_visibility": tc.visibility}}}})
			rooms := cs + "/rooms/" + roomID
			ids := map[string]string{}
			msg := func(n int) {
				ids[env.send(alice, roomID, fmt.Sprint("t", n), fmt.Sprint("m", n))] = fmt.Sprint("m", n)
			}
			msg(1)
			env.must("POST", rooms+"/join", bob, map[string]any{}, nil)
			msg(2)
			env.must("POST", rooms+"/leave", bob, map[string]any{}, nil)
			msg(3)
			env.must("POST", rooms+"/join", bob, map[string]any{}, nil)
			msg(4)
			env.must("POST", rooms+"/leave", bob, map[string]any{}, nil)
			msg(5)

			var page struct {
				Chunk []clientEvent `json:"chunk"`
			}
			env.must("GET", rooms+"/messages?dir=f&limit=100", bob, nil, &page)
			var got []string
			for _, e := range page.Chunk {
				if name, ok := ids[e.EventID]; ok {
					got = append(got, name)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("/messages: bob sees %q, want %q", got, tc.want)
			}
			for id, name := range ids {
				visible := slices.Contains(tc.want, name)
				r := env.do("GET", rooms+"/event/"+id, bob, nil)
				if (r.Status == 200) != visible {
					t.Errorf("/event of %s: %d, want visible %v", name, r.Status, visible)
				}
				r = env.do("GET", rooms+"/context/"+id+"?limit=0", bob, nil)
				if (r.Status == 200) != visible {
					t.Errorf("/context of %s: %d, want visible %v", name, r.Status, visible)
				}
			}
		})
	}
}
