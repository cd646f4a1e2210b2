package hearth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestAppServiceRoomDirectory checks PUT
// /directory/list/appservice/{networkId}/{roomId} and the lists of
// /publicRooms: only a service may publish (its own lists), a room of a
// network appears with that network's third_party_instance_id (the
// instance_id /thirdparty/protocols gives) and with include_all_networks,
// not in the server's own list, and leaves when set private.
func TestAppServiceRoomDirectory(t *testing.T) {
	bridge := &queryBridge{t: t}
	bsrv := httptest.NewServer(http.HandlerFunc(bridge.serve))
	defer bsrv.Close()
	dir := t.TempDir()
	reg := filepath.Join(dir, "q.yaml")
	os.WriteFile(reg, []byte("id: q\nurl: "+bsrv.URL+"\nas_token: q-as\nhs_token: q-hs\nsender_localpart: qbot\nprotocols: [echo]\n"+
		"namespaces:\n  users: [{exclusive: true, regex: '@_q_.*:localhost'}]\n"), 0o600)
	other := filepath.Join(dir, "o.yaml")
	os.WriteFile(other, []byte("id: o\nas_token: o-as\nhs_token: o-hs\nsender_localpart: obot\n"), 0o600)
	hs, c := openWithAppServices(t, t.TempDir(), reg, other)
	defer hs.Close()
	bridge.hs = c.base
	owner := localUser(t, hs, "owner")

	mkRoom := func(name string) string {
		return c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"name": name, "preset": "public_chat"})["room_id"].(string)
	}
	mainRoom := mkRoom("main")
	c.do("PUT", "/_matrix/client/v3/directory/list/room/"+url.PathEscape(mainRoom), owner, map[string]any{"visibility": "public"})
	echoRoom := mkRoom("echo channel")
	otherRoom := mkRoom("other network")
	put := func(token, network, roomID string, body any) (int, map[string]any) {
		return c.raw("PUT", "/_matrix/client/v3/directory/list/appservice/"+url.PathEscape(network)+"/"+url.PathEscape(roomID), token, body)
	}

	// The instance_id of the bridge's network, as clients learn it.
	_, proto := c.raw("GET", "/_matrix/client/v3/thirdparty/protocol/echo", owner, nil)
	instances, _ := proto["instances"].([]any)
	if len(instances) != 1 || instances[0].(map[string]any)["instance_id"] != "q|echo-net" {
		t.Fatalf("protocol echo instances = %v, want one with instance_id q|echo-net", proto["instances"])
	}
	_, protos := c.raw("GET", "/_matrix/client/v3/thirdparty/protocols", owner, nil)
	if fmt.Sprint(protos["echo"].(map[string]any)["instances"]) != fmt.Sprint(proto["instances"]) {
		t.Errorf("/thirdparty/protocols instances %v, want %v", protos["echo"], proto["instances"])
	}

	for _, tc := range []struct {
		name, token, network, room string
		body                       any
		status                     int
		errcode                    string
	}{
		{"a user", owner, "echo-net", echoRoom, map[string]any{"visibility": "public"}, 403, "M_FORBIDDEN"},
		{"no token", "", "echo-net", echoRoom, map[string]any{"visibility": "public"}, 401, "M_MISSING_TOKEN"},
		{"an unknown token", "nope", "echo-net", echoRoom, map[string]any{"visibility": "public"}, 401, "M_UNKNOWN_TOKEN"},
		{"no visibility", "q-as", "echo-net", echoRoom, map[string]any{}, 400, "M_MISSING_PARAM"},
		{"a bad visibility", "q-as", "echo-net", echoRoom, map[string]any{"visibility": "open"}, 400, "M_INVALID_PARAM"},
		{"a visibility not a string", "q-as", "echo-net", echoRoom, map[string]any{"visibility": 1}, 400, "M_BAD_JSON"},
		{"an unknown room", "q-as", "echo-net", "!nowhere:localhost", map[string]any{"visibility": "public"}, 404, "M_NOT_FOUND"},
		{"the service", "q-as", "echo-net", echoRoom, map[string]any{"visibility": "public"}, 200, ""},
		{"again", "q-as", "echo-net", echoRoom, map[string]any{"visibility": "public"}, 200, ""},
		{"another service, its own network", "o-as", "echo-net", otherRoom, map[string]any{"visibility": "public"}, 200, ""},
	} {
		status, body := put(tc.token, tc.network, tc.room, tc.body)
		if status != tc.status || tc.errcode != "" && body["errcode"] != tc.errcode {
			t.Errorf("PUT by %s: %d %v, want %d %s", tc.name, status, body, tc.status, tc.errcode)
		}
	}

	rooms := func(query map[string]any) []string {
		t.Helper()
		status, body := c.raw("POST", "/_matrix/client/v3/publicRooms", owner, query)
		if status != 200 {
			t.Fatalf("publicRooms %v: %d %v", query, status, body)
		}
		var out []string
		for _, x := range body["chunk"].([]any) {
			out = append(out, x.(map[string]any)["name"].(string))
		}
		if n := body["total_room_count_estimate"].(float64); int(n) != len(out) {
			t.Errorf("publicRooms %v: total %v for %d rooms", query, n, len(out))
		}
		return out
	}
	// check compares the names listed, sorted (rooms with as many members
	// come by room ID, which is random).
	check := func(query map[string]any, want ...string) {
		t.Helper()
		got := rooms(query)
		slices.Sort(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("publicRooms %v = %q, want %q", query, got, want)
		}
	}
	check(map[string]any{}, "main")
	check(map[string]any{"third_party_instance_id": "q|echo-net"}, "echo channel")
	check(map[string]any{"third_party_instance_id": "o|echo-net"}, "other network")
	check(map[string]any{"third_party_instance_id": "q|irc"})
	check(map[string]any{"include_all_networks": true}, "echo channel", "main", "other network")
	check(map[string]any{"include_all_networks": true, "filter": map[string]any{"generic_search_term": "CHANNEL"}}, "echo channel")
	// GET /publicRooms is the server's own list.
	status, body := c.raw("GET", "/_matrix/client/v3/publicRooms", "", nil)
	if status != 200 || len(body["chunk"].([]any)) != 1 {
		t.Errorf("GET publicRooms: %d %v", status, body)
	}
	for _, bad := range []map[string]any{
		{"third_party_instance_id": "q|echo-net", "include_all_networks": true},
		{"third_party_instance_id": "no-bar"},
		{"third_party_instance_id": "|echo-net"},
	} {
		if status, body := c.raw("POST", "/_matrix/client/v3/publicRooms", owner, bad); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
			t.Errorf("publicRooms %v: %d %v, want 400 M_INVALID_PARAM", bad, status, body)
		}
	}

	// Private takes the room out of the network's list only.
	if status, body := put("q-as", "echo-net", echoRoom, map[string]any{"visibility": "private"}); status != 200 {
		t.Fatalf("PUT private: %d %v", status, body)
	}
	check(map[string]any{"third_party_instance_id": "q|echo-net"})
	check(map[string]any{"include_all_networks": true}, "main", "other network")
	// A service cannot withdraw a room from another service's list.
	if status, _ := put("q-as", "echo-net", otherRoom, map[string]any{"visibility": "private"}); status != 200 {
		t.Errorf("PUT private of a room not in the list: %d", status)
	}
	check(map[string]any{"third_party_instance_id": "o|echo-net"}, "other network")
}
