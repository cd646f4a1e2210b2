package web

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAliases(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	admin := env.user("root", true)
	roomID := env.createRoom(alice, map[string]any{"preset": "public_chat"})
	alias := func(name string) string {
		return cs + "/directory/room/" + url.PathEscape("#"+name+":"+roomTestServer)
	}

	env.must("PUT", alias("one"), alice, map[string]string{"room_id": roomID}, nil)
	env.wantError("PUT", alias("one"), alice, map[string]string{"room_id": roomID}, 409, "M_UNKNOWN")
	env.wantError("PUT", cs+"/directory/room/"+url.PathEscape("#x:other.test"), alice, map[string]string{"room_id": roomID}, 400, "M_INVALID_PARAM")
	env.wantError("PUT", cs+"/directory/room/nonsense", alice, map[string]string{"room_id": roomID}, 400, "M_INVALID_PARAM")
	env.wantError("PUT", alias("two"), bob, map[string]string{"room_id": roomID}, 403, "M_FORBIDDEN") // not in the room
	env.wantError("PUT", alias("two"), alice, map[string]string{"room_id": "!nope:" + roomTestServer}, 404, "M_NOT_FOUND")

	var got struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	env.must("GET", alias("one"), "", nil, &got)
	if got.RoomID != roomID || len(got.Servers) != 1 {
		t.Errorf("GET alias = %+v", got)
	}
	env.wantError("GET", alias("none"), "", nil, 404, "M_NOT_FOUND")

	env.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	env.must("PUT", alias("bobs"), bob, map[string]string{"room_id": roomID}, nil)
	var list struct {
		Aliases []string `json:"aliases"`
	}
	env.must("GET", cs+"/rooms/"+roomID+"/aliases", bob, nil, &list)
	want := []string{"#bobs:" + roomTestServer, "#one:" + roomTestServer}
	if diff := cmp.Diff(want, list.Aliases); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}

	// Bob (power 0) may delete his own alias but not Alice's; an admin may.
	env.wantError("DELETE", alias("one"), bob, nil, 403, "M_FORBIDDEN")
	env.must("DELETE", alias("bobs"), bob, nil, nil)
	env.must("DELETE", alias("one"), admin, nil, nil)
	env.wantError("DELETE", alias("one"), admin, nil, 404, "M_NOT_FOUND")
	env.wantError("GET", cs+"/rooms/"+roomID+"/aliases", env.user("eve", false), nil, 403, "M_FORBIDDEN")
}

func TestPublicRooms(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	big := env.createRoom(alice, map[string]any{"preset": "public_chat", "visibility": "public", "name": "Big room", "topic": "lots"})
	small := env.createRoom(alice, map[string]any{"preset": "public_chat", "name": "Small room"})
	hidden := env.createRoom(alice, map[string]any{"name": "Hidden"})
	env.must("POST", cs+"/rooms/"+big+"/join", bob, map[string]any{}, nil)

	visibility := func(roomID string) string {
		var v struct {
			Visibility string `json:"visibility"`
		}
		env.must("GET", cs+"/directory/list/room/"+roomID, "", nil, &v)
		return v.Visibility
	}
	if visibility(big) != "public" || visibility(small) != "private" {
		t.Errorf("visibilities %q %q", visibility(big), visibility(small))
	}
	env.wantError("GET", cs+"/directory/list/room/!nope:"+roomTestServer, "", nil, 404, "M_NOT_FOUND")
	env.wantError("PUT", cs+"/directory/list/room/"+small, bob, map[string]string{"visibility": "public"}, 403, "M_FORBIDDEN")
	env.must("PUT", cs+"/directory/list/room/"+small, alice, map[string]string{"visibility": "public"}, nil)
	env.wantError("PUT", cs+"/directory/list/room/"+small, alice, map[string]string{"visibility": "maybe"}, 400, "M_INVALID_PARAM")

	type page struct {
		Chunk []struct {
			RoomID           string `json:"room_id"`
			Name             string `json:"name"`
			Topic            string `json:"topic"`
			NumJoinedMembers int    `json:"num_joined_members"`
			JoinRule         string `json:"join_rule"`
			WorldReadable    bool   `json:"world_readable"`
			GuestCanJoin     bool   `json:"guest_can_join"`
		} `json:"chunk"`
		NextBatch string `json:"next_batch"`
		PrevBatch string `json:"prev_batch"`
		Total     int    `json:"total_room_count_estimate"`
	}
	var p page
	env.must("GET", cs+"/publicRooms", "", nil, &p)
	if len(p.Chunk) != 2 || p.Chunk[0].RoomID != big || p.Chunk[1].RoomID != small || p.Total != 2 {
		t.Fatalf("publicRooms %+v", p)
	}
	if c := p.Chunk[0]; c.Name != "Big room" || c.Topic != "lots" || c.NumJoinedMembers != 2 || c.JoinRule != "public" || c.GuestCanJoin {
		t.Errorf("big room entry %+v", c)
	}
	p = page{}
	env.must("GET", cs+"/publicRooms?limit=1", "", nil, &p)
	if len(p.Chunk) != 1 || p.Chunk[0].RoomID != big || p.NextBatch == "" {
		t.Fatalf("first page %+v", p)
	}
	next := p.NextBatch
	p = page{}
	env.must("GET", cs+"/publicRooms?limit=1&since="+next, "", nil, &p)
	if len(p.Chunk) != 1 || p.Chunk[0].RoomID != small || p.NextBatch != "" || p.PrevBatch == "" {
		t.Fatalf("second page %+v", p)
	}
	p = page{}
	env.must("POST", cs+"/publicRooms", bob, map[string]any{"filter": map[string]string{"generic_search_term": "SMALL"}}, &p)
	if len(p.Chunk) != 1 || p.Chunk[0].RoomID != small {
		t.Errorf("search %+v", p)
	}
	env.wantError("POST", cs+"/publicRooms", "", map[string]any{}, 401, "M_MISSING_TOKEN")
	env.wantError("GET", cs+"/publicRooms?since=zzz", "", nil, 400, "M_INVALID_PARAM")
	for _, c := range p.Chunk {
		if c.RoomID == hidden {
			t.Errorf("an unpublished room is listed")
		}
	}
}
