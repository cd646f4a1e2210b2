package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/adminroom"
	"hearth.dev/hearth/storage"
)

// withAdminRoomStore wires store (the graph's, wrapped) as the admin room
// store, and a room delete service over it.
func withAdminRoomStore(store core.AdminRoomStore) func(*Options, *storage.DB) {
	return func(o *Options, db *storage.DB) {
		o.AdminRooms = store
		deletes, err := adminroom.New(adminroom.Config{ServerName: o.ServerName, Rooms: o.Rooms, Store: store, Now: o.Now})
		if err != nil {
			panic(err)
		}
		o.RoomDeletes = deletes
	}
}

// adminRoomsEnv is a test server with rooms, an admin and three users.
type adminRoomsEnv struct {
	ts                      *testServer
	admin, alice, bob, carl testUser
}

func newAdminRoomsEnv(t *testing.T, mods ...func(*Options, *storage.DB)) *adminRoomsEnv {
	t.Helper()
	ts := newTestServer(t, append([]func(*Options, *storage.DB){}, mods...)...)
	// A delete still running when the test ends would use a closed database.
	t.Cleanup(ts.Server.opts.RoomDeletes.Wait)
	return &adminRoomsEnv{
		ts:    ts,
		admin: ts.registerTestAdmin(t, "admin"),
		alice: ts.registerTestUser(t, "alice"),
		bob:   ts.registerTestUser(t, "bob"),
		carl:  ts.registerTestUser(t, "carl"),
	}
}

// createRoom creates a room as u and returns its ID.
func (e *adminRoomsEnv) createRoom(t *testing.T, u testUser, body map[string]any) string {
	t.Helper()
	status, resp := e.ts.do(t, "POST", "/_matrix/client/v3/createRoom", u.AccessToken, body)
	wantOK(t, "createRoom", status, resp)
	return resp["room_id"].(string)
}

func (e *adminRoomsEnv) join(t *testing.T, u testUser, roomID string) {
	t.Helper()
	status, resp := e.ts.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/join", u.AccessToken, map[string]any{})
	wantOK(t, u.UserID+" joins", status, resp)
}

// list calls the room list with query and returns the room IDs listed and
// the whole answer.
func (e *adminRoomsEnv) list(t *testing.T, query string) ([]string, map[string]any) {
	t.Helper()
	status, resp := e.ts.do(t, "GET", "/_synapse/admin/v1/rooms?"+query, e.admin.AccessToken, nil)
	wantOK(t, "list rooms?"+query, status, resp)
	var ids []string
	for _, r := range resp["rooms"].([]any) {
		ids = append(ids, r.(map[string]any)["room_id"].(string))
	}
	return ids, resp
}

func TestAdminRoomList(t *testing.T) {
	e := newAdminRoomsEnv(t)
	zebra := e.createRoom(t, e.alice, map[string]any{"name": "Zebra crossing", "room_alias_name": "zoo.keeper",
		"preset": "public_chat", "visibility": "public", "room_version": "10"})
	apple := e.createRoom(t, e.alice, map[string]any{
		"name": "apple pie", "topic": "fruit", "invite": []string{e.bob.UserID}, "room_version": "11",
		"initial_state": []map[string]any{{"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}},
	})
	e.join(t, e.bob, apple)
	space := e.createRoom(t, e.bob, map[string]any{"room_version": "12", "creation_content": map[string]any{"type": "m.space"}})
	byID := func(ids ...string) []string { return slices.Sorted(slices.Values(ids)) }
	reversed := func(ids []string) []string { slices.Reverse(ids); return ids }

	ids, resp := e.list(t, "")
	if diff := cmp.Diff([]string{zebra, apple, space}, ids); diff != "" {
		t.Errorf("default order (name, unnamed last) (-want +got):\n%s", diff)
	}
	if resp["total_rooms"] != float64(3) || resp["offset"] != float64(0) || resp["next_batch"] != nil || resp["prev_batch"] != nil {
		t.Errorf("list counters: %v", resp)
	}
	for _, r := range resp["rooms"].([]any) {
		entry := r.(map[string]any)
		if entry["room_id"] != apple {
			continue
		}
		want := map[string]any{
			"room_id": apple, "name": "apple pie", "canonical_alias": nil, "joined_members": float64(2),
			"joined_local_members": float64(2), "version": "11", "creator": e.alice.UserID,
			"encryption": "m.megolm.v1.aes-sha2", "federatable": true, "public": false,
			"join_rules": "invite", "guest_access": "can_join", "history_visibility": "shared",
			// create, 2 members, power levels, join rules, history, guest
			// access, encryption, name, topic
			"state_events": float64(10), "room_type": nil,
		}
		if diff := cmp.Diff(want, entry); diff != "" {
			t.Errorf("list entry (-want +got):\n%s", diff)
		}
	}

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"dir=b", []string{space, apple, zebra}},
		{"order_by=alphabetical", []string{zebra, apple, space}},
		{"order_by=joined_members", append([]string{apple}, byID(zebra, space)...)},
		{"order_by=size&dir=b", append(reversed(byID(zebra, space)), apple)},
		{"order_by=version", []string{space, apple, zebra}},
		{"order_by=public", append(byID(apple, space), zebra)},
		{"order_by=encryption", append([]string{apple}, byID(zebra, space)...)},
		{"order_by=canonical_alias", append([]string{zebra}, byID(apple, space)...)},
		{"order_by=state_events", []string{apple, zebra, space}},
		// Case-insensitive in names and alias localparts (room IDs
		// have neither spaces nor "o.k"), case-sensitive in room IDs.
		{"search_term=o.k", []string{zebra}},
		{"search_term=E+P", []string{apple}},
		{"search_term=a+c", []string{zebra}},
		{"search_term=" + url.QueryEscape(space[1:6]), []string{space}},
		{"search_term=nothing", nil},
		{"public_rooms=true", []string{zebra}},
		{"public_rooms=false", []string{apple, space}},
		{"empty_rooms=true", nil},
		{"empty_rooms=false&search_term=+", []string{zebra, apple}},
	} {
		got, _ := e.list(t, c.query)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("list?%s (-want +got):\n%s", c.query, diff)
		}
	}

	// Pages.
	var seen []string
	for from, page := 0, 0; ; page++ {
		ids, resp := e.list(t, fmt.Sprintf("limit=2&from=%d", from))
		seen = append(seen, ids...)
		if resp["total_rooms"] != float64(3) {
			t.Errorf("page %d: total_rooms %v", page, resp["total_rooms"])
		}
		if wantPrev := from > 0; (resp["prev_batch"] != nil) != wantPrev {
			t.Errorf("page %d: prev_batch %v", page, resp["prev_batch"])
		}
		next, ok := resp["next_batch"].(float64)
		if !ok {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
		from = int(next)
	}
	if diff := cmp.Diff([]string{zebra, apple, space}, seen); diff != "" {
		t.Errorf("paged list (-want +got):\n%s", diff)
	}
	if ids, resp := e.list(t, "from=10"); len(ids) != 0 || resp["total_rooms"] != float64(3) {
		t.Errorf("from past the end: %v", resp)
	}

	for _, c := range []struct {
		query  string
		status int
		code   string
	}{
		{"order_by=bogus", 400, "M_INVALID_PARAM"},
		{"dir=x", 400, "M_INVALID_PARAM"},
		{"limit=-1", 400, "M_INVALID_PARAM"},
		{"from=abc", 400, "M_INVALID_PARAM"},
		{"public_rooms=maybe", 400, "M_INVALID_PARAM"},
		{"search_term=", 400, "M_INVALID_PARAM"},
	} {
		status, resp := e.ts.do(t, "GET", "/_synapse/admin/v1/rooms?"+c.query, e.admin.AccessToken, nil)
		wantError(t, "list?"+c.query, status, resp, c.status, c.code)
	}
	status, resp := e.ts.do(t, "GET", "/_synapse/admin/v1/rooms", e.alice.AccessToken, nil)
	wantError(t, "list as a non-admin", status, resp, 403, "M_FORBIDDEN")
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms", "", nil)
	wantError(t, "list without a token", status, resp, 401, "M_MISSING_TOKEN")
}

func TestAdminRoomDetails(t *testing.T) {
	e := newAdminRoomsEnv(t)
	r := e.createRoom(t, e.alice, map[string]any{
		"name": "details", "topic": "a topic", "room_alias_name": "details", "invite": []string{e.bob.UserID},
		"initial_state": []map[string]any{{"type": "m.room.avatar", "state_key": "", "content": map[string]any{"url": "mxc://example.org/pic"}}},
	})
	e.join(t, e.bob, r)
	e.ts.login(t, e.bob.UserID, testPassword, "SECOND")
	path := "/_synapse/admin/v1/rooms/" + url.PathEscape(r)
	status, resp := e.ts.do(t, "GET", path, e.admin.AccessToken, nil)
	wantOK(t, "details", status, resp)
	want := map[string]any{
		"room_id": r, "name": "details", "topic": "a topic", "avatar": "mxc://example.org/pic",
		"canonical_alias": "#details:" + testServerName, "joined_members": float64(2),
		"joined_local_members": float64(2), "joined_local_devices": float64(3), "version": resp["version"],
		"creator": e.alice.UserID, "encryption": nil, "federatable": true, "public": false,
		"join_rules": "invite", "guest_access": "can_join", "history_visibility": "shared",
		"state_events": float64(11), "room_type": nil, "forgotten": false,
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if v, _ := resp["version"].(string); v == "" {
		t.Errorf("details: no version: %v", resp)
	}

	// Everyone leaves and forgets: the room is forgotten.
	for _, u := range []testUser{e.alice, e.bob} {
		base := "/_matrix/client/v3/rooms/" + url.PathEscape(r)
		status, resp := e.ts.do(t, "POST", base+"/leave", u.AccessToken, map[string]any{})
		wantOK(t, "leave", status, resp)
		if _, resp := e.ts.do(t, "GET", path, e.admin.AccessToken, nil); resp["forgotten"] != false {
			t.Errorf("forgotten before %s forgot: %v", u.UserID, resp["forgotten"])
		}
		status, resp = e.ts.do(t, "POST", base+"/forget", u.AccessToken, map[string]any{})
		wantOK(t, "forget", status, resp)
	}
	if _, resp := e.ts.do(t, "GET", path, e.admin.AccessToken, nil); resp["forgotten"] != true || resp["joined_members"] != float64(0) {
		t.Errorf("after all left and forgot: forgotten %v, joined %v", resp["forgotten"], resp["joined_members"])
	}

	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/"+url.PathEscape("!unknown:"+testServerName), e.admin.AccessToken, nil)
	wantError(t, "unknown room", status, resp, 404, "M_NOT_FOUND")
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/not-a-room", e.admin.AccessToken, nil)
	wantError(t, "not a room ID", status, resp, 400, "M_INVALID_PARAM")
	status, resp = e.ts.do(t, "GET", path, e.alice.AccessToken, nil)
	wantError(t, "details as a non-admin", status, resp, 403, "M_FORBIDDEN")
}

func TestAdminRoomBlockAPI(t *testing.T) {
	e := newAdminRoomsEnv(t)
	path := "/_synapse/admin/v1/rooms/" + url.PathEscape("!any:elsewhere.org") + "/block"
	steps := []struct {
		put  any
		want map[string]any
	}{
		{nil, map[string]any{"block": false}},
		{map[string]any{"block": true}, map[string]any{"block": true, "user_id": e.admin.UserID}},
		{map[string]any{"block": false}, map[string]any{"block": false}},
	}
	for i, s := range steps {
		if s.put != nil {
			status, resp := e.ts.do(t, "PUT", path, e.admin.AccessToken, s.put)
			wantOK(t, "PUT block", status, resp)
			if resp["block"] != s.put.(map[string]any)["block"] {
				t.Errorf("step %d: PUT answered %v", i, resp)
			}
		}
		status, resp := e.ts.do(t, "GET", path, e.admin.AccessToken, nil)
		wantOK(t, "GET block", status, resp)
		if diff := cmp.Diff(s.want, resp); diff != "" {
			t.Errorf("step %d: GET block (-want +got):\n%s", i, diff)
		}
	}
	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{}, 400, "M_MISSING_PARAM"},
		{map[string]any{"block": "yes"}, 400, "M_BAD_JSON"},
		{"{not json", 400, "M_NOT_JSON"},
	} {
		status, resp := e.ts.do(t, "PUT", path, e.admin.AccessToken, c.body)
		wantError(t, fmt.Sprintf("PUT block %v", c.body), status, resp, c.status, c.code)
	}
	status, resp := e.ts.do(t, "PUT", path, e.alice.AccessToken, map[string]any{"block": true})
	wantError(t, "PUT block as a non-admin", status, resp, 403, "M_FORBIDDEN")
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/bad/block", e.admin.AccessToken, nil)
	wantError(t, "GET block of a bad room ID", status, resp, 400, "M_INVALID_PARAM")
}

// joinedRooms returns u's joined rooms.
func (e *adminRoomsEnv) joinedRooms(t *testing.T, u testUser) []string {
	t.Helper()
	status, resp := e.ts.do(t, "GET", "/_matrix/client/v3/joined_rooms", u.AccessToken, nil)
	wantOK(t, "joined_rooms", status, resp)
	var out []string
	for _, r := range resp["joined_rooms"].([]any) {
		out = append(out, r.(string))
	}
	return out
}

// deleteStatus returns the status of delete deleteID.
func (e *adminRoomsEnv) deleteStatus(t *testing.T, deleteID string) map[string]any {
	t.Helper()
	status, resp := e.ts.do(t, "GET", "/_synapse/admin/v2/rooms/delete_status/"+deleteID, e.admin.AccessToken, nil)
	wantOK(t, "delete_status", status, resp)
	return resp
}

func TestAdminRoomDeleteV2(t *testing.T) {
	e := newAdminRoomsEnv(t)
	doomed := e.createRoom(t, e.alice, map[string]any{"name": "doomed", "room_alias_name": "doomed", "preset": "public_chat",
		"visibility": "public", "invite": []string{e.carl.UserID}})
	other := e.createRoom(t, e.alice, map[string]any{"name": "other"})
	e.join(t, e.bob, doomed)
	status, resp := e.ts.do(t, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(doomed)+"/send/m.room.message/t1", e.bob.AccessToken,
		map[string]any{"msgtype": "m.text", "body": "bad content"})
	wantOK(t, "send", status, resp)
	msg := resp["event_id"].(string)

	path := "/_synapse/admin/v2/rooms/" + url.PathEscape(doomed)
	status, resp = e.ts.do(t, "DELETE", path, e.admin.AccessToken, map[string]any{"block": true})
	wantOK(t, "delete", status, resp)
	deleteID, _ := resp["delete_id"].(string)
	if deleteID == "" {
		t.Fatalf("delete answered %v, want a delete_id", resp)
	}
	e.ts.Server.opts.RoomDeletes.Wait()

	want := map[string]any{
		"delete_id": deleteID, "room_id": doomed, "status": "complete",
		"shutdown_room": map[string]any{
			"kicked_users":         []any{e.alice.UserID, e.bob.UserID, e.carl.UserID},
			"failed_to_kick_users": []any{},
			"local_aliases":        []any{"#doomed:" + testServerName},
			"new_room_id":          nil,
		},
	}
	if diff := cmp.Diff(want, e.deleteStatus(t, deleteID)); diff != "" {
		t.Errorf("delete status (-want +got):\n%s", diff)
	}
	status, resp = e.ts.do(t, "GET", path+"/delete_status", e.admin.AccessToken, nil)
	wantOK(t, "delete_status by room", status, resp)
	if diff := cmp.Diff(map[string]any{"results": []any{want}}, resp); diff != "" {
		t.Errorf("delete status by room (-want +got):\n%s", diff)
	}

	// The room is gone: from the admin API, the users' rooms, the
	// directory, the aliases and the event store; it stays blocked.
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/"+url.PathEscape(doomed), e.admin.AccessToken, nil)
	wantError(t, "details after delete", status, resp, 404, "M_NOT_FOUND")
	if ids, _ := e.list(t, ""); !cmp.Equal(ids, []string{other}) {
		t.Errorf("rooms after delete: %v, want only %s", ids, other)
	}
	if got := e.joinedRooms(t, e.alice); !cmp.Equal(got, []string{other}) {
		t.Errorf("alice's joined rooms: %v", got)
	}
	if got := e.joinedRooms(t, e.bob); len(got) != 0 {
		t.Errorf("bob's joined rooms: %v", got)
	}
	status, resp = e.ts.do(t, "GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#doomed:"+testServerName), e.alice.AccessToken, nil)
	wantError(t, "alias after delete", status, resp, 404, "M_NOT_FOUND")
	status, resp = e.ts.do(t, "GET", "/_matrix/client/v3/publicRooms", e.alice.AccessToken, nil)
	wantOK(t, "publicRooms", status, resp)
	if chunk := resp["chunk"].([]any); len(chunk) != 0 {
		t.Errorf("public rooms after delete: %v", chunk)
	}
	if _, err := e.ts.Server.opts.Rooms.Event(context.Background(), msg); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the room's message after the purge: %v, want not found", err)
	}
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/"+url.PathEscape(doomed)+"/block", e.admin.AccessToken, nil)
	if status != 200 || resp["block"] != true {
		t.Errorf("block after delete: %d %v", status, resp)
	}
	// The rest of the server works on.
	status, resp = e.ts.do(t, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(other)+"/send/m.room.message/t2", e.alice.AccessToken,
		map[string]any{"msgtype": "m.text", "body": "still fine"})
	wantOK(t, "send to the other room", status, resp)

	// Deleting again: the room is unknown now.
	status, resp = e.ts.do(t, "DELETE", path, e.admin.AccessToken, map[string]any{})
	wantError(t, "delete twice", status, resp, 404, "M_NOT_FOUND")
	// An unknown room may be blocked ahead of time.
	ahead := "!ahead:elsewhere.org"
	status, resp = e.ts.do(t, "DELETE", "/_synapse/admin/v2/rooms/"+url.PathEscape(ahead), e.admin.AccessToken, map[string]any{"block": true})
	wantOK(t, "delete-and-block an unknown room", status, resp)
	e.ts.Server.opts.RoomDeletes.Wait()
	if st := e.deleteStatus(t, resp["delete_id"].(string)); st["status"] != "complete" {
		t.Errorf("blocking ahead: %v", st)
	}
	if _, resp := e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/"+url.PathEscape(ahead)+"/block", e.admin.AccessToken, nil); resp["block"] != true {
		t.Errorf("the room blocked ahead is not blocked: %v", resp)
	}

	// The status lasts a day.
	e.ts.Clock.Advance(25 * time.Hour)
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v2/rooms/delete_status/"+deleteID, e.admin.AccessToken, nil)
	wantError(t, "status after a day", status, resp, 404, "M_NOT_FOUND")
}

func TestAdminRoomDeleteErrors(t *testing.T) {
	e := newAdminRoomsEnv(t)
	r := e.createRoom(t, e.alice, map[string]any{"name": "r"})
	path := "/_synapse/admin/v2/rooms/" + url.PathEscape(r)
	for _, c := range []struct {
		what   string
		path   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no body", path, e.admin.AccessToken, nil, 400, "M_NOT_JSON"},
		{"not JSON", path, e.admin.AccessToken, "{", 400, "M_NOT_JSON"},
		{"block not a boolean", path, e.admin.AccessToken, map[string]any{"block": "yes"}, 400, "M_BAD_JSON"},
		{"remote new room user", path, e.admin.AccessToken, map[string]any{"new_room_user_id": "@mod:elsewhere.org"}, 400, "M_INVALID_PARAM"},
		{"bad new room user", path, e.admin.AccessToken, map[string]any{"new_room_user_id": "mod"}, 400, "M_INVALID_PARAM"},
		{"unknown room", "/_synapse/admin/v2/rooms/" + url.PathEscape("!nope:"+testServerName), e.admin.AccessToken, map[string]any{}, 404, "M_NOT_FOUND"},
		{"bad room ID", "/_synapse/admin/v2/rooms/nope", e.admin.AccessToken, map[string]any{}, 400, "M_INVALID_PARAM"},
		{"non-admin", path, e.alice.AccessToken, map[string]any{}, 403, "M_FORBIDDEN"},
		{"v1 non-admin", "/_synapse/admin/v1/rooms/" + url.PathEscape(r), e.alice.AccessToken, map[string]any{}, 403, "M_FORBIDDEN"},
	} {
		status, resp := e.ts.do(t, "DELETE", c.path, c.token, c.body)
		wantError(t, c.what, status, resp, c.status, c.code)
	}
	for _, c := range []struct {
		what, path string
		status     int
		code       string
	}{
		{"unknown delete ID", "/_synapse/admin/v2/rooms/delete_status/XYZ", 404, "M_NOT_FOUND"},
		{"room without deletes", path + "/delete_status", 404, "M_NOT_FOUND"},
		{"bad room ID", "/_synapse/admin/v2/rooms/nope/delete_status", 400, "M_INVALID_PARAM"},
		{"neither form", "/_synapse/admin/v2/rooms/a/b", 404, "M_UNRECOGNIZED"},
	} {
		status, resp := e.ts.do(t, "GET", c.path, e.admin.AccessToken, nil)
		wantError(t, c.what, status, resp, c.status, c.code)
	}
	status, resp := e.ts.do(t, "GET", "/_synapse/admin/v2/rooms/delete_status/XYZ", e.alice.AccessToken, nil)
	wantError(t, "status as a non-admin", status, resp, 403, "M_FORBIDDEN")

}

// heldBlock is the real admin room store whose blocks wait until release
// is closed, holding the delete that blocks at its first step.
type heldBlock struct {
	core.AdminRoomStore
	release chan struct{}
}

func (h heldBlock) SetRoomBlock(ctx context.Context, roomID string, blocked bool, by string) error {
	<-h.release
	return h.AdminRoomStore.SetRoomBlock(ctx, roomID, blocked, by)
}

func TestAdminRoomDeleteOneAtATime(t *testing.T) {
	release := make(chan struct{})
	e := newAdminRoomsEnv(t, func(o *Options, db *storage.DB) {
		withAdminRoomStore(heldBlock{o.AdminRooms, release})(o, db)
	})
	r := e.createRoom(t, e.alice, map[string]any{"name": "r"})
	path := "/_synapse/admin/v2/rooms/" + url.PathEscape(r)
	status, resp := e.ts.do(t, "DELETE", path, e.admin.AccessToken, map[string]any{"block": true})
	wantOK(t, "first delete", status, resp)
	first, _ := resp["delete_id"].(string)
	// The first delete waits in its block step.
	status, resp = e.ts.do(t, "DELETE", path, e.admin.AccessToken, map[string]any{})
	wantError(t, "delete while one is under way", status, resp, 400, "M_UNKNOWN")
	// Nothing was done: alice is still in the room.
	if got := e.joinedRooms(t, e.alice); !cmp.Equal(got, []string{r}) {
		t.Errorf("alice's rooms after a refused delete: %v", got)
	}
	close(release)
	e.ts.Server.opts.RoomDeletes.Wait()
	if st := e.deleteStatus(t, first); st["status"] != "complete" {
		t.Errorf("status of the first delete: %v", st)
	}
	if got := e.joinedRooms(t, e.alice); len(got) != 0 {
		t.Errorf("alice's rooms after the first delete: %v", got)
	}
}

// failingPurge is the real admin room store whose purges fail.
type failingPurge struct{ core.AdminRoomStore }

func (failingPurge) PurgeRoom(context.Context, string) (core.PurgedRoom, error) {
	return core.PurgedRoom{}, errors.New("disk on fire")
}

func TestAdminRoomDeleteFails(t *testing.T) {
	e := newAdminRoomsEnv(t, func(o *Options, db *storage.DB) {
		withAdminRoomStore(failingPurge{o.AdminRooms})(o, db)
	})
	r := e.createRoom(t, e.alice, map[string]any{"name": "r"})
	status, resp := e.ts.do(t, "DELETE", "/_synapse/admin/v2/rooms/"+url.PathEscape(r), e.admin.AccessToken, map[string]any{})
	wantOK(t, "delete", status, resp)
	e.ts.Server.opts.RoomDeletes.Wait()
	st := e.deleteStatus(t, resp["delete_id"].(string))
	if st["status"] != "failed" || st["error"] != "Internal server error" {
		t.Errorf("status of a failed purge: %v", st)
	}
	// The users had left before the purge failed.
	if got := st["shutdown_room"].(map[string]any)["kicked_users"]; !cmp.Equal(got, []any{e.alice.UserID}) {
		t.Errorf("kicked users: %v", got)
	}
	// Version 1 answers the failure itself.
	r2 := e.createRoom(t, e.alice, map[string]any{"name": "r2"})
	status, resp = e.ts.do(t, "DELETE", "/_synapse/admin/v1/rooms/"+url.PathEscape(r2), e.admin.AccessToken, map[string]any{})
	wantError(t, "v1 delete with a failing purge", status, resp, 500, "M_UNKNOWN")
}

func TestAdminRoomDeleteToNewRoom(t *testing.T) {
	e := newAdminRoomsEnv(t)
	old := e.createRoom(t, e.alice, map[string]any{"name": "old", "room_alias_name": "old", "preset": "public_chat", "visibility": "public"})
	e.join(t, e.bob, old)
	moderator := "@moderator:" + testServerName // need not be registered
	status, resp := e.ts.do(t, "DELETE", "/_synapse/admin/v1/rooms/"+url.PathEscape(old), e.admin.AccessToken, map[string]any{
		"new_room_user_id": moderator, "room_name": "Moved", "message": "This room was shut down.", "purge": false,
	})
	wantOK(t, "v1 delete", status, resp)
	newRoom, _ := resp["new_room_id"].(string)
	if newRoom == "" || newRoom == old {
		t.Fatalf("v1 delete answered %v, want a new room", resp)
	}
	kicked := resp["kicked_users"].([]any)
	sort.Slice(kicked, func(i, j int) bool { return kicked[i].(string) < kicked[j].(string) })
	if !cmp.Equal(kicked, []any{e.alice.UserID, e.bob.UserID}) || !cmp.Equal(resp["local_aliases"], []any{"#old:" + testServerName}) {
		t.Errorf("v1 delete answered %v", resp)
	}

	// Without purge the old room stays, empty.
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/"+url.PathEscape(old), e.admin.AccessToken, nil)
	wantOK(t, "old room details", status, resp)
	if resp["joined_members"] != float64(0) || resp["public"] != false || resp["forgotten"] != true {
		t.Errorf("old room after the delete: %v members, public %v, forgotten %v", resp["joined_members"], resp["public"], resp["forgotten"])
	}
	// The users are in the new room, whose name and message are as asked.
	for _, u := range []testUser{e.alice, e.bob} {
		if got := e.joinedRooms(t, u); !cmp.Equal(got, []string{newRoom}) {
			t.Errorf("%s's rooms: %v, want the new room", u.UserID, got)
		}
	}
	status, resp = e.ts.do(t, "GET", "/_synapse/admin/v1/rooms/"+url.PathEscape(newRoom), e.admin.AccessToken, nil)
	wantOK(t, "new room details", status, resp)
	if resp["name"] != "Moved" || resp["creator"] != moderator || resp["joined_members"] != float64(3) {
		t.Errorf("new room: %v", resp)
	}
	status, resp = e.ts.do(t, "GET", "/_matrix/client/v3/rooms/"+url.PathEscape(newRoom)+"/messages?dir=b&limit=20", e.alice.AccessToken, nil)
	wantOK(t, "new room messages", status, resp)
	found := false
	for _, ev := range resp["chunk"].([]any) {
		m := ev.(map[string]any)
		if m["type"] == "m.room.message" && m["sender"] == moderator && m["content"].(map[string]any)["body"] == "This room was shut down." {
			found = true
		}
	}
	if !found {
		t.Errorf("the new room lacks the moderator's message: %v", resp["chunk"])
	}
	// The alias moved; the users moved in may not speak (users_default -10).
	status, resp = e.ts.do(t, "GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#old:"+testServerName), e.alice.AccessToken, nil)
	wantOK(t, "alias", status, resp)
	if resp["room_id"] != newRoom {
		t.Errorf("alias points at %v, want the new room", resp["room_id"])
	}
	status, resp = e.ts.do(t, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(newRoom)+"/send/m.room.message/t1", e.alice.AccessToken,
		map[string]any{"msgtype": "m.text", "body": "can I speak?"})
	wantError(t, "speaking in the new room", status, resp, 403, "M_FORBIDDEN")
}

// TestAdminRoomPurgeThenJoin checks that a purged room is unknown to the
// room pipeline afterwards: a join answers 404, not a room whose events
// would be on another server.
func TestAdminRoomPurgeThenJoin(t *testing.T) {
	e := newAdminRoomsEnv(t)
	gone := e.createRoom(t, e.alice, map[string]any{"preset": "public_chat"})
	e.join(t, e.bob, gone)
	status, resp := e.ts.do(t, "DELETE", "/_synapse/admin/v2/rooms/"+url.PathEscape(gone), e.admin.AccessToken, map[string]any{})
	wantOK(t, "delete", status, resp)
	e.ts.Server.opts.RoomDeletes.Wait()
	if st := e.deleteStatus(t, resp["delete_id"].(string)); st["status"] != "complete" {
		t.Fatalf("delete: %v", st)
	}
	for _, u := range []testUser{e.bob, e.carl} {
		status, resp = e.ts.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(gone)+"/join", u.AccessToken, map[string]any{})
		wantError(t, "join of the purged room by "+u.UserID, status, resp, 404, "M_NOT_FOUND")
	}
}
