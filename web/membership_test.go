package web

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestMembershipFlows(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	carol := env.user("carol", false)
	bobID, carolID := "@bob:"+roomTestServer, "@carol:"+roomTestServer
	roomID := env.createRoom(alice, map[string]any{"preset": "private_chat", "name": "secret"})
	rooms := cs + "/rooms/" + roomID

	step := func(name string, f func()) {
		t.Helper()
		env.tb = t
		t.Run(name, func(t *testing.T) { env.tb = t; f() })
		env.tb = t
	}
	membership := func(token, user string) string {
		var c map[string]any
		r := env.do("GET", rooms+"/state/m.room.member/"+user, token, nil)
		if r.Status != 200 {
			return ""
		}
		r.JSON(env.tb, &c)
		m, _ := c["membership"].(string)
		return m
	}
	joinedRooms := func(token string) []string {
		var out struct {
			JoinedRooms []string `json:"joined_rooms"`
		}
		env.must("GET", cs+"/joined_rooms", token, nil, &out)
		return out.JoinedRooms
	}

	step("invite-only room refuses a join", func() {
		r := env.wantError("POST", rooms+"/join", bob, map[string]any{}, 403, "M_FORBIDDEN")
		if !strings.Contains(string(r.Body), "auth rule") {
			t.Errorf("no rule in %s", r.Body)
		}
	})
	step("non-members cannot read the room", func() {
		env.wantError("GET", rooms+"/state", bob, nil, 403, "M_FORBIDDEN")
		env.wantError("GET", rooms+"/members", bob, nil, 403, "M_FORBIDDEN")
		env.wantError("GET", rooms+"/state/m.room.name", bob, nil, 403, "M_FORBIDDEN")
		env.wantError("GET", rooms+"/joined_members", bob, nil, 403, "M_FORBIDDEN")
		env.wantError("POST", rooms+"/invite", bob, map[string]string{"user_id": carolID}, 403, "M_FORBIDDEN")
	})
	step("unknown rooms", func() {
		unknown := cs + "/rooms/!unknown:" + roomTestServer
		env.wantError("GET", unknown+"/state", alice, nil, 403, "M_FORBIDDEN")
		env.wantError("POST", unknown+"/join", alice, map[string]any{}, 404, "M_NOT_FOUND")
		env.wantError("POST", cs+"/join/!elsewhere:other.test", alice, map[string]any{}, 404, "M_NOT_FOUND")
		env.wantError("POST", cs+"/join/"+url.PathEscape("#nope:"+roomTestServer), alice, map[string]any{}, 404, "M_NOT_FOUND")
		env.wantError("POST", unknown+"/invite", alice, map[string]string{"user_id": bobID}, 403, "M_FORBIDDEN")
		env.wantError("POST", unknown+"/leave", alice, map[string]any{}, 403, "M_FORBIDDEN")
	})
	step("invite, twice, then join", func() {
		env.must("POST", rooms+"/invite", alice, map[string]string{"user_id": bobID, "reason": "welcome"}, nil)
		env.must("POST", rooms+"/invite", alice, map[string]string{"user_id": bobID}, nil)
		if m := membership(alice, bobID); m != "invite" {
			t.Fatalf("bob's membership %q", m)
		}
		env.wantError("POST", rooms+"/invite", alice, map[string]string{}, 400, "M_MISSING_PARAM")
		env.wantError("POST", rooms+"/invite", alice, map[string]string{"user_id": "@x:other.test"}, 403, "M_FORBIDDEN")
		env.must("POST", cs+"/join/"+roomID, bob, map[string]string{"reason": "hi"}, nil)
		if !slices.Contains(joinedRooms(bob), roomID) {
			t.Fatalf("bob's joined rooms %v", joinedRooms(bob))
		}
		var c map[string]any
		env.must("GET", rooms+"/state/m.room.member/"+bobID, bob, nil, &c)
		if c["membership"] != "join" || c["reason"] != "hi" {
			t.Errorf("join content %v", c)
		}
	})
	step("members with filters", func() {
		env.must("POST", rooms+"/invite", alice, map[string]string{"user_id": carolID}, nil)
		count := func(query string) int {
			var out struct {
				Chunk []clientEvent `json:"chunk"`
			}
			env.must("GET", rooms+"/members"+query, bob, nil, &out)
			return len(out.Chunk)
		}
		for _, tt := range []struct {
			query string
			want  int
		}{
			{"", 3},
			{"?membership=join", 2},
			{"?membership=invite", 1},
			{"?not_membership=join", 1},
			{"?not_membership=invite", 2},
			{"?membership=invite&not_membership=join", 1},
			{"?membership=leave", 0},
			{"?at=s1", 0},
		} {
			if got := count(tt.query); got != tt.want {
				t.Errorf("members%s: %d, want %d", tt.query, got, tt.want)
			}
		}
		env.wantError("GET", rooms+"/members?membership=party", bob, nil, 400, "M_INVALID_PARAM")
		env.wantError("GET", rooms+"/members?at=x", bob, nil, 400, "M_INVALID_PARAM")
		var joined struct {
			Joined map[string]any `json:"joined"`
		}
		env.must("GET", rooms+"/joined_members", bob, nil, &joined)
		if len(joined.Joined) != 2 {
			t.Errorf("joined_members %v", joined.Joined)
		}
		env.wantError("GET", rooms+"/joined_members", carol, nil, 403, "M_FORBIDDEN")
	})
	step("carol rejects the invite", func() {
		env.must("POST", rooms+"/leave", carol, map[string]any{}, nil)
		if m := membership(alice, carolID); m != "leave" {
			t.Errorf("carol's membership %q", m)
		}
	})
	step("kick", func() {
		// Bob has power 0: he may not kick.
		r := env.wantError("POST", rooms+"/kick", bob, map[string]string{"user_id": "@alice:" + roomTestServer}, 403, "M_FORBIDDEN")
		if !strings.Contains(string(r.Body), "auth rule") {
			t.Errorf("no rule in %s", r.Body)
		}
		env.wantError("POST", rooms+"/kick", alice, map[string]string{"user_id": carolID}, 403, "M_FORBIDDEN") // not in the room
		env.must("POST", rooms+"/kick", alice, map[string]string{"user_id": bobID, "reason": "bye"}, nil)
		if m := membership(alice, bobID); m != "leave" {
			t.Errorf("bob's membership after the kick %q", m)
		}
		if slices.Contains(joinedRooms(bob), roomID) {
			t.Errorf("bob still has the room in joined_rooms")
		}
		// Bob left: he reads the state at his leave, but not what comes after.
		env.must("PUT", rooms+"/state/m.room.name", alice, map[string]string{"name": "after bob"}, nil)
		var name map[string]any
		env.must("GET", rooms+"/state/m.room.name", bob, nil, &name)
		if name["name"] != "secret" {
			t.Errorf("bob sees the name %v, want the name when he left", name)
		}
		env.must("GET", rooms+"/state/m.room.name", alice, nil, &name)
		if name["name"] != "after bob" {
			t.Errorf("alice sees the name %v", name)
		}
	})
	step("ban and unban", func() {
		env.wantError("POST", rooms+"/unban", alice, map[string]string{"user_id": bobID}, 403, "M_FORBIDDEN") // not banned
		env.must("POST", rooms+"/ban", alice, map[string]string{"user_id": bobID, "reason": "spam"}, nil)
		if m := membership(alice, bobID); m != "ban" {
			t.Errorf("bob's membership after the ban %q", m)
		}
		// The auth rules refuse to invite or let in a banned user.
		env.wantError("POST", rooms+"/invite", alice, map[string]string{"user_id": bobID}, 403, "M_FORBIDDEN")
		env.wantError("POST", rooms+"/join", bob, map[string]any{}, 403, "M_FORBIDDEN")
		if m := membership(alice, bobID); m != "ban" {
			t.Errorf("bob's membership changed to %q", m)
		}
	})
	step("unban", func() {
		env.must("POST", rooms+"/unban", alice, map[string]string{"user_id": bobID}, nil)
		if m := membership(alice, bobID); m != "leave" {
			t.Errorf("bob's membership after the unban %q", m)
		}
	})
	step("forget", func() {
		env.wantError("POST", rooms+"/forget", alice, nil, 400, "M_UNKNOWN") // still joined
		msg := env.send(alice, roomID, "before-forget", "old news")
		env.must("POST", rooms+"/forget", carol, nil, nil)
		env.wantError("GET", rooms+"/state", carol, nil, 403, "M_FORBIDDEN")
		env.wantError("GET", rooms+"/event/"+url.PathEscape(msg), carol, nil, 404, "M_NOT_FOUND")
		// A new membership brings the room back.
		env.must("POST", rooms+"/invite", alice, map[string]string{"user_id": carolID}, nil)
		env.must("POST", rooms+"/join", carol, map[string]any{}, nil)
		env.must("GET", rooms+"/state", carol, nil, nil)
	})
	step("leave", func() {
		env.must("POST", rooms+"/leave", carol, map[string]string{"reason": "done"}, nil)
		env.wantError("POST", rooms+"/leave", carol, map[string]any{}, 403, "M_FORBIDDEN") // already left
		if slices.Contains(joinedRooms(carol), roomID) {
			t.Errorf("carol still has the room in joined_rooms")
		}
	})
}

func TestJoinPublicRoomByAlias(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	roomID := env.createRoom(alice, map[string]any{"preset": "public_chat", "room_alias_name": "town"})
	var out struct {
		RoomID string `json:"room_id"`
	}
	env.must("POST", cs+"/join/"+url.PathEscape("#town:"+roomTestServer), bob, map[string]any{}, &out)
	if out.RoomID != roomID {
		t.Errorf("join by alias gave %q, want %q", out.RoomID, roomID)
	}
	// history_visibility shared: bob sees what was said before he joined.
	env.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	msg := env.send(alice, roomID, "m", "while bob is away")
	env.wantError("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(msg), bob, nil, 404, "M_NOT_FOUND")
	env.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	env.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(msg), bob, nil, nil)
}
