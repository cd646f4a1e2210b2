package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const slidingPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// slidingResponse is the part of a sliding sync response the tests read.
type slidingResponse struct {
	Pos   string `json:"pos"`
	Lists map[string]struct {
		Count int `json:"count"`
		Ops   []struct {
			Op      string   `json:"op"`
			Range   []int    `json:"range"`
			RoomIDs []string `json:"room_ids"`
		} `json:"ops"`
	} `json:"lists"`
	Rooms map[string]struct {
		Name   string `json:"name"`
		Avatar string `json:"avatar"`
		Heroes []struct {
			UserID string `json:"user_id"`
		} `json:"heroes"`
		IsDM          bool          `json:"is_dm"`
		Initial       bool          `json:"initial"`
		RequiredState []clientEvent `json:"required_state"`
		Timeline      []clientEvent `json:"timeline"`
		PrevBatch     string        `json:"prev_batch"`
		Limited       bool          `json:"limited"`
		NumLive       *int          `json:"num_live"`
		BumpStamp     int64         `json:"bump_stamp"`
		JoinedCount   *int          `json:"joined_count"`
		InvitedCount  *int          `json:"invited_count"`
		Notification  *int          `json:"notification_count"`
		Highlight     *int          `json:"highlight_count"`
		InviteState   []struct {
			Type     string `json:"type"`
			StateKey string `json:"state_key"`
		} `json:"invite_state"`
	} `json:"rooms"`
	Extensions struct {
		ToDevice *struct {
			NextBatch string `json:"next_batch"`
			Events    []struct {
				Sender  string         `json:"sender"`
				Type    string         `json:"type"`
				Content map[string]any `json:"content"`
			} `json:"events"`
		} `json:"to_device"`
		E2EE *struct {
			DeviceLists *struct {
				Changed []string `json:"changed"`
				Left    []string `json:"left"`
			} `json:"device_lists"`
			OTKCounts     map[string]int `json:"device_one_time_keys_count"`
			FallbackTypes []string       `json:"device_unused_fallback_key_types"`
		} `json:"e2ee"`
		AccountData *struct {
			Global []struct {
				Type string `json:"type"`
			} `json:"global"`
			Rooms map[string][]struct {
				Type string `json:"type"`
			} `json:"rooms"`
		} `json:"account_data"`
		Receipts *struct {
			Rooms map[string]json.RawMessage `json:"rooms"`
		} `json:"receipts"`
		Typing *struct {
			Rooms map[string]struct {
				Content struct {
					UserIDs []string `json:"user_ids"`
				} `json:"content"`
			} `json:"rooms"`
		} `json:"typing"`
	} `json:"extensions"`
}

// slide runs a sliding sync request from pos ("" for a new connection)
// that must succeed.
func (e *syncEnv) slide(token, pos string, body any, params ...string) slidingResponse {
	e.tb.Helper()
	r := e.doSlide(token, pos, body, params...)
	if r.Status != http.StatusOK {
		e.tb.Fatalf("sliding sync (pos %q): %d %s", pos, r.Status, r.Body)
	}
	var out slidingResponse
	r.JSON(e.tb, &out)
	if out.Pos == "" || out.Pos == pos {
		e.tb.Fatalf("sliding sync gave pos %q after %q", out.Pos, pos)
	}
	return out
}

func (e *syncEnv) doSlide(token, pos string, body any, params ...string) response {
	e.tb.Helper()
	q := url.Values{}
	if pos != "" {
		q.Set("pos", pos)
	}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return e.do("POST", slidingPath+"?"+q.Encode(), token, body)
}

// allRooms is a request for one list "all", window [0, end].
func allRooms(end, timeline int, required ...[]string) map[string]any {
	if required == nil {
		required = [][]string{}
	}
	return map[string]any{"lists": map[string]any{"all": map[string]any{
		"ranges": [][]int{{0, end}}, "timeline_limit": timeline, "required_state": required,
	}}}
}

func (r slidingResponse) window(list string) []string {
	l, ok := r.Lists[list]
	if !ok || len(l.Ops) == 0 {
		return nil
	}
	return l.Ops[0].RoomIDs
}

func TestSlidingSyncAdvertised(t *testing.T) {
	e := newSyncEnv(t)
	var v struct {
		Unstable map[string]bool `json:"unstable_features"`
	}
	e.must("GET", "/_matrix/client/versions", "", nil, &v)
	if !v.Unstable["org.matrix.simplified_msc3575"] {
		t.Errorf("unstable_features = %v, want org.matrix.simplified_msc3575", v.Unstable)
	}
}

func TestSlidingSyncWindowMovesWithBumps(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	var rooms []string
	for i := range 6 {
		rooms = append(rooms, e.createRoom(alice, map[string]any{"name": fmt.Sprint("room ", i)}))
	}
	// Newest first: the last room created is on top.
	r1 := e.slide(alice, "", allRooms(2, 3, []string{"m.room.name", ""}))
	if got, want := r1.window("all"), []string{rooms[5], rooms[4], rooms[3]}; !slices.Equal(got, want) {
		t.Fatalf("window = %v, want %v", got, want)
	}
	if r1.Lists["all"].Count != 6 {
		t.Errorf("count = %d, want 6", r1.Lists["all"].Count)
	}
	if len(r1.Rooms) != 3 {
		t.Errorf("first response has %d rooms, want the 3 of the window", len(r1.Rooms))
	}
	top := r1.Rooms[rooms[5]]
	if !top.Initial || top.Name != "room 5" || top.BumpStamp == 0 || top.JoinedCount == nil || *top.JoinedCount != 1 {
		t.Errorf("top room = %+v, want initial, named, bumped, 1 joined", top)
	}
	if len(top.RequiredState) != 1 || top.RequiredState[0].Type != "m.room.name" {
		t.Errorf("required_state = %+v, want the name only", top.RequiredState)
	}
	if len(top.Timeline) != 3 || !top.Limited || top.PrevBatch == "" {
		t.Errorf("timeline of %d events, limited %v, prev_batch %q; want 3, limited, a prev_batch", len(top.Timeline), top.Limited, top.PrevBatch)
	}

	// A message in the oldest room moves it to the top; only it is sent.
	msg := e.send(alice, rooms[0], "bump1", "hello")
	r2 := e.slide(alice, r1.Pos, allRooms(2, 3, []string{"m.room.name", ""}))
	if got, want := r2.window("all"), []string{rooms[0], rooms[5], rooms[4]}; !slices.Equal(got, want) {
		t.Fatalf("window after the message = %v, want %v", got, want)
	}
	if len(r2.Rooms) != 1 {
		t.Fatalf("incremental response has rooms %v, want only %s", keysOf(r2.Rooms), rooms[0])
	}
	moved := r2.Rooms[rooms[0]]
	if !moved.Initial {
		t.Error("a room new to the window was not sent as initial")
	}
	if moved.BumpStamp <= top.BumpStamp {
		t.Errorf("bump_stamp %d is not above the old top's %d", moved.BumpStamp, top.BumpStamp)
	}
	if n := len(moved.Timeline); n == 0 || moved.Timeline[n-1].EventID != msg {
		t.Errorf("timeline does not end with the message %s: %+v", msg, moved.Timeline)
	}
	if moved.NumLive == nil || *moved.NumLive != 1 {
		t.Errorf("num_live = %v, want 1", moved.NumLive)
	}

	// A second message: the room is already in the window, so only the
	// new event comes, not initial.
	msg2 := e.send(alice, rooms[0], "bump2", "again")
	r3 := e.slide(alice, r2.Pos, allRooms(2, 3, []string{"m.room.name", ""}))
	inc := r3.Rooms[rooms[0]]
	if inc.Initial || len(inc.Timeline) != 1 || inc.Timeline[0].EventID != msg2 || len(inc.RequiredState) != 0 {
		t.Errorf("incremental room = %+v, want the one new event, not initial, no state", inc)
	}
	// A state event that is not a bump type does not move the room.
	e.must("PUT", cs+"/rooms/"+rooms[4]+"/state/m.room.topic", alice, map[string]string{"topic": "t"}, nil)
	r4 := e.slide(alice, r3.Pos, allRooms(2, 3, []string{"m.room.name", ""}))
	if got, want := r4.window("all"), []string{rooms[0], rooms[5], rooms[4]}; !slices.Equal(got, want) {
		t.Errorf("window after a topic change = %v, want %v", got, want)
	}
	if r := r4.Rooms[rooms[4]]; len(r.Timeline) != 1 || r.Timeline[0].Type != "m.room.topic" {
		t.Errorf("room with a new topic = %+v, want the topic in its timeline", r)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestSlidingSyncRequiredStateWildcards(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat", "topic": "hi"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	e.send(alice, roomID, "m1", "from alice")

	stateOf := func(required ...[]string) []clientEvent {
		t.Helper()
		r := e.slide(alice, "", allRooms(0, 1, required...))
		return r.Rooms[roomID].RequiredState
	}
	keys := func(evs []clientEvent) []string {
		var out []string
		for _, ev := range evs {
			sk := ""
			if ev.StateKey != nil {
				sk = *ev.StateKey
			}
			out = append(out, ev.Type+"|"+sk)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(stateOf([]string{"m.room.member", "$ME"})); !slices.Equal(got, []string{"m.room.member|" + aliceID}) {
		t.Errorf("$ME = %v", got)
	}
	// $LAZY: the members of the timeline's senders (and the viewer on a
	// first sight), not bob, who sent nothing in the window.
	if got := keys(stateOf([]string{"m.room.member", "$LAZY"})); !slices.Equal(got, []string{"m.room.member|" + aliceID}) {
		t.Errorf("$LAZY = %v", got)
	}
	if got := keys(stateOf([]string{"m.room.member", "*"})); !slices.Equal(got, []string{"m.room.member|" + aliceID, "m.room.member|" + bobID}) {
		t.Errorf("member * = %v", got)
	}
	all := keys(stateOf([]string{"*", "*"}))
	for _, want := range []string{"m.room.create|", "m.room.topic|", "m.room.join_rules|", "m.room.member|" + bobID} {
		if !slices.Contains(all, want) {
			t.Errorf("* * lacks %s: %v", want, all)
		}
	}
	if got := keys(stateOf([]string{"*", ""})); slices.Contains(got, "m.room.member|"+bobID) || !slices.Contains(got, "m.room.topic|") {
		t.Errorf("* with empty key = %v, want the empty-key state only", got)
	}

	// Incremental $LAZY: bob speaks, his membership comes with it.
	r1 := e.slide(alice, "", allRooms(0, 5, []string{"m.room.member", "$LAZY"}))
	e.send(bob, roomID, "m2", "from bob")
	r2 := e.slide(alice, r1.Pos, allRooms(0, 5, []string{"m.room.member", "$LAZY"}))
	if got := keys(r2.Rooms[roomID].RequiredState); !slices.Equal(got, []string{"m.room.member|" + bobID}) {
		t.Errorf("incremental $LAZY = %v, want bob's membership", got)
	}
}

func TestSlidingSyncPositions(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	e.createRoom(alice, map[string]any{"name": "r"})
	r1 := e.slide(alice, "", allRooms(0, 1))

	// An unknown position, one of another connection, garbage: all
	// M_UNKNOWN_POS.
	for _, pos := range []string{"nonsense", "abc.1", strings.Split(r1.Pos, ".")[0] + ".999"} {
		if r := e.doSlide(alice, pos, allRooms(0, 1)); r.Status != 400 || r.errcode() != "M_UNKNOWN_POS" {
			t.Errorf("pos %q: %d %s, want 400 M_UNKNOWN_POS", pos, r.Status, r.Body)
		}
	}
	// The position belongs to its conn_id: another conn_id does not know it.
	body := allRooms(0, 1)
	body["conn_id"] = "other"
	if r := e.doSlide(alice, r1.Pos, body); r.Status != 400 || r.errcode() != "M_UNKNOWN_POS" {
		t.Errorf("unknown conn_id: %d %s, want 400 M_UNKNOWN_POS", r.Status, r.Body)
	}
	// Nor does another user's device.
	bob := e.user("bob", false)
	if r := e.doSlide(bob, r1.Pos, allRooms(0, 1)); r.errcode() != "M_UNKNOWN_POS" {
		t.Errorf("another device's pos: %d %s, want M_UNKNOWN_POS", r.Status, r.Body)
	}
	// Positions run out: after more newer ones, the first has expired.
	pos := r1.Pos
	for range 4 {
		pos = e.slide(alice, pos, allRooms(0, 1)).Pos
	}
	if r := e.doSlide(alice, r1.Pos, allRooms(0, 1)); r.errcode() != "M_UNKNOWN_POS" {
		t.Errorf("expired pos: %d %s, want M_UNKNOWN_POS", r.Status, r.Body)
	}
	// The newest still works, and a timeout of 0 answers at once.
	e.slide(alice, pos, allRooms(0, 1), "timeout", "0")
}

func TestSlidingSyncBadInput(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	cases := []struct {
		name, body, errcode string
	}{
		{"not an object", `[1]`, "M_BAD_JSON"},
		{"lists wrong type", `{"lists": []}`, "M_BAD_JSON"},
		{"filters wrong type", `{"lists": {"a": {"ranges": [[0,1]], "filters": {"is_dm": "yes"}}}}`, "M_BAD_JSON"},
		{"spaces not room IDs", `{"lists": {"a": {"ranges": [[0,1]], "filters": {"spaces": ["nope"]}}}}`, "M_INVALID_PARAM"},
		{"backward range", `{"lists": {"a": {"ranges": [[5,1]]}}}`, "M_INVALID_PARAM"},
		{"range of three", `{"lists": {"a": {"ranges": [[0,1,2]]}}}`, "M_INVALID_PARAM"},
		{"negative range", `{"lists": {"a": {"ranges": [[-1,1]]}}}`, "M_INVALID_PARAM"},
		{"timeline too long", `{"lists": {"a": {"ranges": [[0,1]], "timeline_limit": 100000}}}`, "M_INVALID_PARAM"},
		{"required_state not pairs", `{"lists": {"a": {"ranges": [[0,1]], "required_state": [["m.room.name"]]}}}`, "M_INVALID_PARAM"},
		{"subscription not a room", `{"room_subscriptions": {"nope": {}}}`, "M_INVALID_PARAM"},
		{"to_device since", `{"extensions": {"to_device": {"enabled": true, "since": "x"}}}`, "M_INVALID_PARAM"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", slidingPath, alice, c.body)
			if r.Status != 400 || r.errcode() != c.errcode {
				t.Errorf("%s: %d %s, want 400 %s", c.body, r.Status, r.Body, c.errcode)
			}
		})
	}
	if r := e.do("POST", slidingPath+"?timeout=abc", alice, `{}`); r.Status != 400 {
		t.Errorf("timeout=abc: %d %s, want 400", r.Status, r.Body)
	}
	if r := e.do("POST", slidingPath, "", `{}`); r.Status != 401 {
		t.Errorf("no token: %d, want 401", r.Status)
	}
}

func TestSlidingSyncFiltersAndInvites(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	aliceID := "@alice:" + roomTestServer
	plain := e.createRoom(alice, map[string]any{"name": "plain"})
	enc := e.createRoom(alice, map[string]any{"name": "enc", "initial_state": []any{map[string]any{
		"type": "m.room.encryption", "state_key": "", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}}})
	space := e.createRoom(alice, map[string]any{"name": "space", "creation_content": map[string]any{"type": "m.space"}})
	e.must("PUT", cs+"/rooms/"+space+"/state/m.space.child/"+plain, alice, map[string]any{"via": []string{roomTestServer}}, nil)
	dm := e.createRoom(alice, map[string]any{"is_direct": true})
	e.must("PUT", cs+"/user/"+aliceID+"/account_data/m.direct", alice, map[string]any{"@bob:" + roomTestServer: []string{dm}}, nil)

	list := func(filters map[string]any) map[string]any {
		return map[string]any{"ranges": [][]int{{0, 20}}, "timeline_limit": 0, "filters": filters}
	}
	req := map[string]any{"lists": map[string]any{
		"enc":      list(map[string]any{"is_encrypted": true}),
		"dm":       list(map[string]any{"is_dm": true}),
		"notdm":    list(map[string]any{"is_dm": false}),
		"spaces":   list(map[string]any{"room_types": []string{"m.space"}}),
		"nospaces": list(map[string]any{"not_room_types": []string{"m.space"}}),
		"untyped":  list(map[string]any{"room_types": []any{nil}}),
		"inspace":  list(map[string]any{"spaces": []string{space}}),
		"invites":  list(map[string]any{"is_invite": true}),
	}}
	r1 := e.slide(alice, "", req)
	set := func(r slidingResponse, name string) []string {
		got := slices.Clone(r.window(name))
		slices.Sort(got)
		return got
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for name, want := range map[string][]string{
		"enc": {enc}, "dm": {dm}, "notdm": sorted(plain, enc, space), "spaces": {space},
		"nospaces": sorted(plain, enc, dm), "untyped": sorted(plain, enc, dm), "inspace": {plain}, "invites": nil,
	} {
		if got := set(r1, name); !slices.Equal(got, want) {
			t.Errorf("list %s = %v, want %v", name, got, want)
		}
	}
	if !r1.Rooms[dm].IsDM || r1.Rooms[plain].IsDM {
		t.Error("is_dm is wrong on the rooms")
	}

	// An invite appears in the invite list, with its stripped state.
	invited := e.createRoom(bob, map[string]any{"name": "from bob"})
	e.must("POST", cs+"/rooms/"+invited+"/invite", bob, map[string]any{"user_id": aliceID}, nil)
	r2 := e.slide(alice, r1.Pos, req)
	if got := r2.window("invites"); !slices.Equal(got, []string{invited}) {
		t.Fatalf("invites = %v, want [%s]", got, invited)
	}
	inv := r2.Rooms[invited]
	if !inv.Initial || inv.Name != "from bob" || len(inv.InviteState) == 0 || inv.Timeline != nil {
		t.Errorf("invite = %+v, want initial, named, with stripped state, no timeline", inv)
	}
	last := inv.InviteState[len(inv.InviteState)-1]
	if last.Type != "m.room.member" || last.StateKey != aliceID {
		t.Errorf("stripped state ends with %+v, want alice's invite", last)
	}

	// Once alice ignores bob, his invite leaves the lists.
	e.must("PUT", cs+"/user/"+aliceID+"/account_data/m.ignored_user_list", alice,
		map[string]any{"ignored_users": map[string]any{"@bob:" + roomTestServer: map[string]any{}}}, nil)
	r3 := e.slide(alice, "", req)
	if got := r3.window("invites"); len(got) != 0 || r3.Lists["invites"].Count != 0 {
		t.Errorf("invites from an ignored user = %v, want none", got)
	}
}

func TestSlidingSyncRoomSubscription(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	old := e.createRoom(alice, map[string]any{"name": "old"})
	for i := range 3 {
		e.createRoom(alice, map[string]any{"name": fmt.Sprint("new ", i)})
	}
	other := e.createRoom(bob, map[string]any{"name": "bob's"})
	req := allRooms(0, 1)
	req["room_subscriptions"] = map[string]any{
		old:   map[string]any{"timeline_limit": 2, "required_state": [][]string{{"m.room.name", ""}}},
		other: map[string]any{"timeline_limit": 2},
	}
	r1 := e.slide(alice, "", req)
	sub, ok := r1.Rooms[old]
	if !ok || sub.Name != "old" || len(sub.Timeline) != 2 || len(sub.RequiredState) != 1 {
		t.Errorf("subscribed room = %+v, want it with 2 events and its name", sub)
	}
	if _, ok := r1.Rooms[other]; ok {
		t.Error("a subscription to a room alice is not in showed it")
	}
	if len(r1.Rooms) != 2 {
		t.Errorf("rooms %v, want the window's one and the subscription", keysOf(r1.Rooms))
	}
	// Sticky: the next request names the subscription without its
	// parameters; a message in it arrives with the configured state.
	msg := e.send(alice, old, "s1", "hi")
	req2 := allRooms(0, 1)
	req2["room_subscriptions"] = map[string]any{old: map[string]any{}}
	r2 := e.slide(alice, r1.Pos, req2)
	if s := r2.Rooms[old]; s.Initial || len(s.Timeline) != 1 || s.Timeline[0].EventID != msg {
		t.Errorf("subscribed room after a message = %+v, want the message only", s)
	}
	// A request that does not name it keeps the subscription.
	msg2 := e.send(alice, old, "s2", "still there")
	r3 := e.slide(alice, r2.Pos, allRooms(0, 1))
	if s := r3.Rooms[old]; len(s.Timeline) != 1 || s.Timeline[0].EventID != msg2 {
		t.Errorf("subscribed room in a request without subscriptions = %+v, want %s", s, msg2)
	}
	// unsubscribe_rooms ends it: the next change there (a topic, which
	// does not bump the room into the window) is not sent.
	req4 := allRooms(0, 1)
	req4["unsubscribe_rooms"] = []string{old}
	r4 := e.slide(alice, r3.Pos, req4)
	e.createRoom(alice, map[string]any{"name": "newest"}) // takes the window
	e.must("PUT", cs+"/rooms/"+old+"/state/m.room.topic", alice, map[string]string{"topic": "gone"}, nil)
	r5 := e.slide(alice, r4.Pos, allRooms(0, 1))
	if _, ok := r5.Rooms[old]; ok {
		t.Error("an unsubscribed room outside the window was sent")
	}
}

func TestSlidingSyncExtensions(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	aliceID, bobID := "@alice:"+roomTestServer, "@bob:"+roomTestServer
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	e.must("PUT", cs+"/user/"+aliceID+"/account_data/m.test", alice, map[string]any{"a": 1}, nil)
	e.must("PUT", cs+"/user/"+aliceID+"/rooms/"+roomID+"/account_data/m.room.test", alice, map[string]any{"b": 1}, nil)
	req := allRooms(5, 1)
	req["extensions"] = map[string]any{
		"to_device":    map[string]any{"enabled": true},
		"e2ee":         map[string]any{"enabled": true},
		"account_data": map[string]any{"enabled": true},
		"receipts":     map[string]any{"enabled": true},
		"typing":       map[string]any{"enabled": true},
	}
	r1 := e.slide(alice, "", req)
	x := r1.Extensions
	if x.ToDevice == nil || x.E2EE == nil || x.AccountData == nil || x.Receipts == nil || x.Typing == nil {
		t.Fatalf("extensions missing: %+v", x)
	}
	if _, ok := x.E2EE.OTKCounts["signed_curve25519"]; !ok {
		t.Errorf("e2ee counts = %v, want signed_curve25519", x.E2EE.OTKCounts)
	}
	if !slices.ContainsFunc(x.AccountData.Global, func(ev struct {
		Type string `json:"type"`
	}) bool {
		return ev.Type == "m.test"
	}) || len(x.AccountData.Rooms[roomID]) == 0 {
		t.Errorf("account_data = %+v, want m.test and the room's", x.AccountData)
	}

	// To-device, a one-time key upload, a device list change, typing and a
	// receipt all arrive on the next request (the extensions are sticky).
	e.must("PUT", cs+"/sendToDevice/m.test/t1", bob, map[string]any{
		"messages": map[string]any{aliceID: map[string]any{e.devices[alice]: map[string]any{"n": 1}}},
	}, nil)
	e.must("POST", cs+"/keys/upload", alice, map[string]any{"one_time_keys": map[string]any{
		"signed_curve25519:AAAAAQ": map[string]any{"key": "k1", "signatures": map[string]any{}},
	}}, nil)
	e.must("POST", cs+"/keys/upload", bob, map[string]any{"device_keys": map[string]any{
		"user_id": bobID, "device_id": e.devices[bob], "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys": map[string]any{"curve25519:" + e.devices[bob]: "c", "ed25519:" + e.devices[bob]: "e"}, "signatures": map[string]any{},
	}}, nil)
	e.must("PUT", cs+"/rooms/"+roomID+"/typing/"+bobID, bob, map[string]any{"typing": true, "timeout": 30000}, nil)
	msg := e.send(bob, roomID, "m1", "read me")
	e.must("POST", cs+"/rooms/"+roomID+"/receipt/m.read/"+msg, bob, map[string]any{}, nil)
	r2 := e.slide(alice, r1.Pos, allRooms(5, 1))
	x = r2.Extensions
	if x.ToDevice == nil || len(x.ToDevice.Events) != 1 || x.ToDevice.Events[0].Sender != bobID {
		t.Fatalf("to_device = %+v, want bob's message", x.ToDevice)
	}
	if x.E2EE == nil || x.E2EE.OTKCounts["signed_curve25519"] != 1 {
		t.Errorf("e2ee = %+v, want one signed_curve25519 key", x.E2EE)
	}
	if x.E2EE.DeviceLists == nil || !slices.Contains(x.E2EE.DeviceLists.Changed, bobID) {
		t.Errorf("device_lists = %+v, want bob changed", x.E2EE.DeviceLists)
	}
	if ty := x.Typing; ty == nil || !slices.Equal(ty.Rooms[roomID].Content.UserIDs, []string{bobID}) {
		t.Errorf("typing = %+v, want bob typing in the room", ty)
	}
	if rc := x.Receipts; rc == nil || !strings.Contains(string(rc.Rooms[roomID]), msg) {
		t.Errorf("receipts = %+v, want bob's receipt on %s", rc, msg)
	}
	// A user who newly shares a room is a device list change; one who
	// leaves the only room shared is a left one.
	carol := e.user("carol", false)
	carolID := "@carol:" + roomTestServer
	e.must("POST", cs+"/rooms/"+roomID+"/join", carol, map[string]any{}, nil)
	rj := e.slide(alice, r2.Pos, allRooms(5, 1))
	if dl := rj.Extensions.E2EE.DeviceLists; dl == nil || !slices.Contains(dl.Changed, carolID) {
		t.Errorf("device_lists after carol joined = %+v, want carol changed", dl)
	}
	e.must("POST", cs+"/rooms/"+roomID+"/leave", carol, map[string]any{}, nil)
	rl := e.slide(alice, rj.Pos, allRooms(5, 1))
	if dl := rl.Extensions.E2EE.DeviceLists; dl == nil || !slices.Contains(dl.Left, carolID) || slices.Contains(dl.Changed, carolID) {
		t.Errorf("device_lists after carol left = %+v, want carol left", dl)
	}
	// Acknowledged with since: not delivered again. (enabled is sticky:
	// a request that only moves since keeps the extension on.)
	req3 := allRooms(5, 1)
	req3["extensions"] = map[string]any{"to_device": map[string]any{"since": x.ToDevice.NextBatch}}
	r3 := e.slide(alice, rl.Pos, req3)
	if td := r3.Extensions.ToDevice; td == nil || len(td.Events) != 0 {
		t.Errorf("to_device after since = %+v, want none", td)
	}
	// Scoping: receipts for a list that does not exist cover no room.
	req4 := allRooms(5, 1)
	req4["extensions"] = map[string]any{"receipts": map[string]any{"enabled": true, "lists": []string{"none"}}}
	r4 := e.slide(alice, "", req4)
	if rc := r4.Extensions.Receipts; rc == nil || len(rc.Rooms) != 0 {
		t.Errorf("receipts scoped to no list = %+v, want no rooms", rc)
	}
}

func TestSlidingSyncLongPoll(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"name": "r"})
	r1 := e.slide(alice, "", allRooms(0, 1))
	// A waiting request is woken by a message, whenever it lands.
	waiting := make(chan struct{})
	var once sync.Once
	e.g.Sliding.SetWaitHook(func() { once.Do(func() { close(waiting) }) })
	defer e.g.Sliding.SetWaitHook(nil)
	done := make(chan slidingResponse, 1)
	go func() { done <- e.slide(alice, r1.Pos, allRooms(0, 1), "timeout", "300000") }()
	<-waiting
	msg := e.send(alice, roomID, "lp", "wake up")
	r2 := <-done
	if tl := r2.Rooms[roomID].Timeline; len(tl) != 1 || tl[0].EventID != msg {
		t.Errorf("woken response timeline = %+v, want %s", tl, msg)
	}

	// With every extension on and nothing new, a request waits (for its
	// whole timeout) and comes back empty: nothing the client has already
	// seen is sent again.
	req := allRooms(0, 1)
	req["extensions"] = map[string]any{
		"to_device": map[string]any{"enabled": true}, "e2ee": map[string]any{"enabled": true},
		"account_data": map[string]any{"enabled": true}, "receipts": map[string]any{"enabled": true},
		"typing": map[string]any{"enabled": true},
	}
	r3 := e.slide(alice, r2.Pos, req)
	var waits atomic.Int32
	e.g.Sliding.SetWaitHook(func() { waits.Add(1) })
	r4 := e.slide(alice, r3.Pos, req, "timeout", "20")
	if waits.Load() == 0 {
		t.Error("a request with nothing new did not wait")
	}
	if len(r4.Rooms) != 0 || len(r4.Extensions.AccountData.Global) != 0 || len(r4.Extensions.Receipts.Rooms) != 0 {
		t.Errorf("a request with nothing new sent %v and account data %+v", keysOf(r4.Rooms), r4.Extensions.AccountData)
	}
}

// TestSlidingSyncManyMoved covers an incremental request after more
// events than one read of what moved takes (the per-room reads then find
// the bump stamps): the window still moves and the room's timeline is
// limited to the newest events.
func TestSlidingSyncManyMoved(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	busy := e.createRoom(alice, map[string]any{"name": "busy"})
	quiet := e.createRoom(alice, map[string]any{"name": "quiet"})
	r1 := e.slide(alice, "", allRooms(0, 3))
	if got := r1.window("all"); !slices.Equal(got, []string{quiet}) {
		t.Fatalf("window = %v, want [%s]", got, quiet)
	}
	var last string
	for i := range 520 {
		last = e.send(alice, busy, fmt.Sprint("many", i), fmt.Sprint("message ", i))
	}
	// A state event after the messages: not a bump.
	e.must("PUT", cs+"/rooms/"+busy+"/state/m.room.topic", alice, map[string]string{"topic": "t"}, nil)
	r2 := e.slide(alice, r1.Pos, allRooms(0, 3))
	if got := r2.window("all"); !slices.Equal(got, []string{busy}) {
		t.Fatalf("window after 520 messages = %v, want [%s]", got, busy)
	}
	room := r2.Rooms[busy]
	if !room.Initial || !room.Limited || len(room.Timeline) != 3 || room.Timeline[1].EventID != last {
		t.Errorf("busy room = initial %v, limited %v, %d events; want initial, limited, 3 ending with %s and the topic", room.Initial, room.Limited, len(room.Timeline), last)
	}
	if room.BumpStamp == 0 || room.BumpStamp <= r1.Rooms[quiet].BumpStamp {
		t.Errorf("bump_stamp %d, want above the quiet room's %d", room.BumpStamp, r1.Rooms[quiet].BumpStamp)
	}
}
