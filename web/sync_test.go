package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

// syncEnv is a roomEnv whose server also serves /sync and the timeline
// reads, with real accounts, end-to-end encryption and to-device stores,
// on the same real database.
type syncEnv struct {
	*roomEnv
	notifier *core.Notifier
	accounts *storage.AccountStore
	// devices maps access tokens to device IDs.
	devices map[string]string
}

// user registers @localpart (once) and logs in a new device, returning
// its access token.
func (e *syncEnv) user(localpart string, _ bool) string {
	e.tb.Helper()
	ctx := context.Background()
	userID := "@" + localpart + ":" + roomTestServer
	if _, err := e.accounts.CreateAccount(ctx, core.NewAccount{UserID: userID}); err != nil && !errors.Is(err, core.ErrUserInUse) {
		e.tb.Fatalf("creating %s: %v", userID, err)
	}
	tok, err := e.accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		e.tb.Fatalf("logging in %s: %v", userID, err)
	}
	e.devices[tok.AccessToken] = tok.DeviceID
	return tok.AccessToken
}

func newSyncEnv(tb testing.TB) *syncEnv {
	tb.Helper()
	env := newRoomEnv(tb)
	return &syncEnv{roomEnv: env, notifier: env.g.Notifier, accounts: env.g.Accounts, devices: map[string]string{}}
}

// syncResponse is the part of a /sync response the tests read.
type syncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Summary struct {
				Heroes  []string `json:"m.heroes"`
				Joined  *int     `json:"m.joined_member_count"`
				Invited *int     `json:"m.invited_member_count"`
			} `json:"summary"`
			State *struct {
				Events []clientEvent `json:"events"`
			} `json:"state"`
			Timeline struct {
				Events    []syncEvent `json:"events"`
				Limited   bool        `json:"limited"`
				PrevBatch string      `json:"prev_batch"`
			} `json:"timeline"`
		} `json:"join"`
		Invite map[string]struct {
			InviteState struct {
				Events []struct {
					Type     string         `json:"type"`
					StateKey string         `json:"state_key"`
					Sender   string         `json:"sender"`
					Content  map[string]any `json:"content"`
				} `json:"events"`
			} `json:"invite_state"`
		} `json:"invite"`
		Leave map[string]struct {
			Timeline struct {
				Events []syncEvent `json:"events"`
			} `json:"timeline"`
		} `json:"leave"`
	} `json:"rooms"`
}

// syncEvent is a client event with its bundled aggregations.
type syncEvent struct {
	clientEvent
	Relations map[string]json.RawMessage
}

func (e *syncEvent) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &e.clientEvent); err != nil {
		return err
	}
	var u struct {
		Unsigned struct {
			Relations map[string]json.RawMessage `json:"m.relations"`
		} `json:"unsigned"`
	}
	if err := json.Unmarshal(b, &u); err != nil {
		return err
	}
	e.Relations = u.Unsigned.Relations
	return nil
}

// sync runs GET /sync with the given query parameters ("" values are
// left out), checks the answer against the spec and decodes it.
func (e *syncEnv) sync(token string, params ...string) (syncResponse, response) {
	e.tb.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		if params[i+1] != "" {
			q.Set(params[i], params[i+1])
		}
	}
	r := e.do("GET", cs+"/sync?"+q.Encode(), token, nil)
	if r.Status != http.StatusOK {
		e.tb.Fatalf("GET /sync?%s: %d %s", q.Encode(), r.Status, r.Body)
	}
	specSchemas.checkResponse(e.tb, "api/client-server/sync.yaml", "GET", "/sync", 200, r.Body)
	var out syncResponse
	r.JSON(e.tb, &out)
	return out, r
}

// messages is a /messages response.
type messagesResponse struct {
	Start string        `json:"start"`
	End   string        `json:"end"`
	Chunk []syncEvent   `json:"chunk"`
	State []clientEvent `json:"state"`
}

func (e *syncEnv) messages(token, roomID string, params ...string) messagesResponse {
	e.tb.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		if params[i+1] != "" {
			q.Set(params[i], params[i+1])
		}
	}
	r := e.do("GET", cs+"/rooms/"+roomID+"/messages?"+q.Encode(), token, nil)
	if r.Status != http.StatusOK {
		e.tb.Fatalf("GET /messages?%s: %d %s", q.Encode(), r.Status, r.Body)
	}
	specSchemas.checkResponse(e.tb, "api/client-server/message_pagination.yaml", "GET", "/rooms/{roomId}/messages", 200, r.Body)
	var out messagesResponse
	r.JSON(e.tb, &out)
	return out
}

func timelineIDs(evs []syncEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.EventID
	}
	return out
}

func TestSyncInitial(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat", "name": "Tea"})
	var sent []string
	for i := range 3 {
		sent = append(sent, e.send(alice, roomID, fmt.Sprint("t", i), fmt.Sprint("message ", i)))
	}

	// No filter: the last 10 events; the room is small enough that the
	// state before them is part of it.
	resp, _ := e.sync(alice)
	if resp.NextBatch == "" {
		t.Fatal("no next_batch")
	}
	jr, ok := resp.Rooms.Join[roomID]
	if !ok {
		t.Fatalf("room %s not in rooms.join", roomID)
	}
	tl := timelineIDs(jr.Timeline.Events)
	if len(tl) < 3 || !slices.Equal(tl[len(tl)-3:], sent) {
		t.Errorf("timeline %v does not end with the messages %v", tl, sent)
	}
	if jr.Summary.Joined == nil || *jr.Summary.Joined != 1 || jr.Summary.Invited == nil || *jr.Summary.Invited != 0 {
		t.Errorf("summary = %+v, want 1 joined, 0 invited", jr.Summary)
	}
	// The state and the timeline together hold the room's state.
	seen := map[string]bool{}
	for _, ev := range jr.State.Events {
		seen[ev.Type] = true
	}
	for _, ev := range jr.Timeline.Events {
		if ev.StateKey != nil {
			seen[ev.Type] = true
		}
	}
	for _, typ := range []string{"m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.name"} {
		if !seen[typ] {
			t.Errorf("no %s in state or timeline", typ)
		}
	}
	for _, ev := range jr.Timeline.Events {
		if ev.RoomID != "" {
			t.Errorf("timeline event %s has room_id in /sync", ev.EventID)
		}
	}

	// With a limit of 2: limited, the state is the full state before the
	// two messages, and prev_batch leads /messages to the rest.
	lim, _ := e.sync(alice, "filter", `{"room":{"timeline":{"limit":2}}}`)
	jr = lim.Rooms.Join[roomID]
	if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, sent[1:]) || !jr.Timeline.Limited || jr.Timeline.PrevBatch == "" {
		t.Errorf("limited timeline = %v limited=%v prev_batch=%q, want %v, limited", got, jr.Timeline.Limited, jr.Timeline.PrevBatch, sent[1:])
	}
	types := map[string]bool{}
	for _, ev := range jr.State.Events {
		types[ev.Type] = true
		if ev.StateKey == nil {
			t.Errorf("state holds a non-state event %s", ev.EventID)
		}
	}
	if !types["m.room.create"] || !types["m.room.name"] {
		t.Errorf("state of a limited sync lacks create or name: %v", types)
	}
	page := e.messages(alice, roomID, "dir", "b", "from", jr.Timeline.PrevBatch, "limit", "1")
	if len(page.Chunk) != 1 || page.Chunk[0].EventID != sent[0] {
		t.Errorf("/messages from prev_batch = %v, want [%s]", timelineIDs(page.Chunk), sent[0])
	}
}

func TestSyncIncremental(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	first, _ := e.sync(alice)

	// Nothing new: no rooms.
	idle, _ := e.sync(alice, "since", first.NextBatch)
	if len(idle.Rooms.Join) != 0 {
		t.Errorf("idle incremental sync has rooms %v", idle.Rooms.Join)
	}
	if idle.NextBatch == "" {
		t.Error("no next_batch")
	}

	msg := e.send(alice, roomID, "t1", "hello")
	inc, _ := e.sync(alice, "since", idle.NextBatch)
	jr, ok := inc.Rooms.Join[roomID]
	if !ok {
		t.Fatal("room missing from incremental sync")
	}
	if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, []string{msg}) || jr.Timeline.Limited {
		t.Errorf("incremental timeline = %v limited=%v, want [%s]", got, jr.Timeline.Limited, msg)
	}
	if jr.State != nil && len(jr.State.Events) != 0 {
		t.Errorf("incremental state = %v, want empty", jr.State.Events)
	}
	if jr.Timeline.Events[0].Unsigned.TransactionID != "t1" {
		t.Errorf("transaction_id = %q, want t1 for the sending device", jr.Timeline.Events[0].Unsigned.TransactionID)
	}

	// An invite shows in rooms.invite with stripped state, then the room
	// in rooms.join once joined, with its full state.
	b0, _ := e.sync(bob)
	e.must("POST", cs+"/rooms/"+roomID+"/invite", alice, map[string]string{"user_id": "@bob:" + roomTestServer}, nil)
	b1, _ := e.sync(bob, "since", b0.NextBatch)
	inv, ok := b1.Rooms.Invite[roomID]
	if !ok {
		t.Fatalf("invite missing: %+v", b1.Rooms)
	}
	var haveCreate, haveMember bool
	for _, ev := range inv.InviteState.Events {
		haveCreate = haveCreate || ev.Type == "m.room.create"
		haveMember = haveMember || ev.Type == "m.room.member" && ev.StateKey == "@bob:"+roomTestServer && ev.Content["membership"] == "invite"
	}
	if !haveCreate || !haveMember {
		t.Errorf("invite_state lacks the create event or the invite: %+v", inv.InviteState.Events)
	}
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	b2, _ := e.sync(bob, "since", b1.NextBatch)
	jr, ok = b2.Rooms.Join[roomID]
	if !ok {
		t.Fatal("joined room missing")
	}
	st := map[string]bool{}
	for _, ev := range jr.State.Events {
		st[ev.Type] = true
	}
	for _, ev := range jr.Timeline.Events {
		st[ev.Type] = true
	}
	if !st["m.room.create"] || !st["m.room.power_levels"] {
		t.Errorf("newly joined room lacks its full state: %v", st)
	}

	// Leaving puts the room in rooms.leave with the leave event.
	e.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	b3, _ := e.sync(bob, "since", b2.NextBatch)
	lr, ok := b3.Rooms.Leave[roomID]
	if !ok || len(lr.Timeline.Events) == 0 {
		t.Fatalf("left room missing or empty: %+v", b3.Rooms)
	}
	last := lr.Timeline.Events[len(lr.Timeline.Events)-1]
	if last.Type != "m.room.member" || last.Content["membership"] != "leave" {
		t.Errorf("leave timeline ends with %s %v, want the leave", last.Type, last.Content)
	}
	if _, ok := b3.Rooms.Join[roomID]; ok {
		t.Error("left room still in rooms.join")
	}
	// Alice sees bob's comings and goings.
	a2, _ := e.sync(alice, "since", inc.NextBatch)
	var members []string
	for _, ev := range a2.Rooms.Join[roomID].Timeline.Events {
		if ev.Type == "m.room.member" {
			members = append(members, fmt.Sprint(ev.Content["membership"]))
		}
	}
	if !slices.Equal(members, []string{"invite", "join", "leave"}) {
		t.Errorf("alice saw memberships %v, want invite, join, leave", members)
	}
}

// waitForSync arranges for ch to receive once a /sync request starts to
// wait.
func waitForSync(t *testing.T) <-chan struct{} {
	ch := make(chan struct{}, 16)
	hook := func() { ch <- struct{}{} }
	syncWaitHook.Store(&hook)
	t.Cleanup(func() { syncWaitHook.Store(nil) })
	return ch
}

func TestSyncLongPollWakes(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	first, _ := e.sync(alice)
	waiting := waitForSync(t)

	type result struct {
		resp syncResponse
		err  string
	}
	done := make(chan result, 1)
	go func() {
		// Ten minutes: only a wake-up returns it within the test's time.
		r := e.do("GET", cs+"/sync?timeout=600000&since="+url.QueryEscape(first.NextBatch), alice, nil)
		var res result
		if r.Status != 200 {
			res.err = fmt.Sprintf("%d %s", r.Status, r.Body)
		} else if err := json.Unmarshal(r.Body, &res.resp); err != nil {
			res.err = err.Error()
		}
		done <- res
	}()
	select {
	case <-waiting: // the request is parked on the notifier
	case res := <-done:
		t.Fatalf("the sync returned without waiting: %+v", res)
	}
	if n := e.srv.SyncWaiters(); n != 1 {
		t.Errorf("SyncWaiters while one waits = %d, want 1", n)
	}
	msg := e.send(alice, roomID, "t1", "wake up")
	res := <-done
	if res.err != "" {
		t.Fatal(res.err)
	}
	if n := e.srv.SyncWaiters(); n != 0 {
		t.Errorf("SyncWaiters after the wake-up = %d, want 0", n)
	}
	if got := timelineIDs(res.resp.Rooms.Join[roomID].Timeline.Events); !slices.Equal(got, []string{msg}) {
		t.Errorf("woken sync timeline = %v, want [%s]", got, msg)
	}

	// A long poll that nothing wakes returns an empty response at its
	// timeout, with a token to go on from.
	empty, _ := e.sync(alice, "since", res.resp.NextBatch, "timeout", "1")
	if len(empty.Rooms.Join) != 0 || empty.NextBatch == "" {
		t.Errorf("timed-out sync = %+v, want no rooms and a next_batch", empty)
	}
}

func TestSyncFilters(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	carol := e.user("carol", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	e.must("POST", cs+"/rooms/"+roomID+"/join", carol, map[string]any{}, nil)
	for i := range 4 {
		e.send(alice, roomID, fmt.Sprint("a", i), "from alice")
	}
	fromCarol := e.send(carol, roomID, "c", "from carol")
	var topic struct {
		EventID string `json:"event_id"`
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.topic", alice, map[string]string{"topic": "tea"}, &topic)
	fromBob := e.send(bob, roomID, "b", "from bob")

	// The filter API.
	var created struct {
		FilterID string `json:"filter_id"`
	}
	filter := `{"room":{"timeline":{"limit":2,"types":["m.room.message"]},"state":{"lazy_load_members":true}}}`
	e.must("POST", cs+"/user/@alice:"+roomTestServer+"/filter", alice, filter, &created)
	if created.FilterID == "" || created.FilterID[0] == '{' {
		t.Fatalf("filter_id = %q", created.FilterID)
	}
	var back map[string]any
	e.must("GET", cs+"/user/@alice:"+roomTestServer+"/filter/"+created.FilterID, alice, nil, &back)
	var want map[string]any
	json.Unmarshal([]byte(filter), &want)
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("stored filter (-want +got):\n%s", diff)
	}
	e.wantError("GET", cs+"/user/@alice:"+roomTestServer+"/filter/"+created.FilterID, bob, nil, 403, "M_FORBIDDEN")
	e.wantError("GET", cs+"/user/@bob:"+roomTestServer+"/filter/"+created.FilterID, bob, nil, 404, "M_NOT_FOUND")
	e.wantError("GET", cs+"/user/@alice:"+roomTestServer+"/filter/nope", alice, nil, 404, "M_NOT_FOUND")
	e.wantError("POST", cs+"/user/@bob:"+roomTestServer+"/filter", alice, filter, 403, "M_FORBIDDEN")
	e.wantError("POST", cs+"/user/@alice:"+roomTestServer+"/filter", alice, `{"room":`, 400, "M_NOT_JSON")
	e.wantError("POST", cs+"/user/@alice:"+roomTestServer+"/filter", alice, `{"room":{"timeline":{"limit":-1}}}`, 400, "M_BAD_JSON")
	e.wantError("POST", cs+"/user/@alice:"+roomTestServer+"/filter", alice, `{"room":{"timeline":{"types":"x"}}}`, 400, "M_BAD_JSON")

	// Stored filter: two messages, lazy-loaded members: only the senders
	// of the timeline and the syncing user.
	resp, _ := e.sync(alice, "filter", created.FilterID)
	jr := resp.Rooms.Join[roomID]
	if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, []string{fromCarol, fromBob}) || !jr.Timeline.Limited {
		t.Errorf("filtered timeline = %v (limited %v), want carol's and bob's messages, limited", got, jr.Timeline.Limited)
	}
	var members []string
	haveTopic := false
	for _, ev := range jr.State.Events {
		if ev.Type == "m.room.member" {
			members = append(members, *ev.StateKey)
		}
		haveTopic = haveTopic || ev.EventID == topic.EventID
	}
	slices.Sort(members)
	wantMembers := []string{"@alice:" + roomTestServer, "@bob:" + roomTestServer, "@carol:" + roomTestServer}
	if !slices.Equal(members, wantMembers) {
		t.Errorf("lazy-loaded members = %v, want %v", members, wantMembers)
	}
	if !haveTopic {
		t.Error("the topic changed inside the filtered-out part of the timeline but is not in the state")
	}

	// Lazy loading with a timeline of bob's event only: the members of
	// the room who are neither senders nor heroes are left out.
	var others []string
	for i := range 5 {
		tok := e.user(fmt.Sprint("d", i), false)
		e.must("POST", cs+"/rooms/"+roomID+"/join", tok, map[string]any{}, nil)
		others = append(others, fmt.Sprintf("@d%d:%s", i, roomTestServer))
	}
	fromBob2 := e.send(bob, roomID, "b2", "from bob again")
	resp, _ = e.sync(alice, "filter", `{"room":{"timeline":{"limit":1},"state":{"lazy_load_members":true}}}`)
	jr = resp.Rooms.Join[roomID]
	if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, []string{fromBob2}) {
		t.Fatalf("timeline = %v, want bob's second message", got)
	}
	heroes := jr.Summary.Heroes
	if want := append([]string{"@bob:" + roomTestServer, "@carol:" + roomTestServer}, others[:3]...); !slices.Equal(heroes, want) {
		t.Errorf("heroes = %v, want the first five members to join: %v", heroes, want)
	}
	members = nil
	for _, ev := range jr.State.Events {
		if ev.Type == "m.room.member" {
			members = append(members, *ev.StateKey)
		}
	}
	slices.Sort(members)
	wantMembers = append([]string{"@alice:" + roomTestServer}, heroes...)
	slices.Sort(wantMembers)
	if !slices.Equal(members, wantMembers) {
		t.Errorf("lazy-loaded members for bob's message = %v, want the sender, the syncing user and the heroes %v", members, wantMembers)
	}

	for _, tc := range []struct {
		name, filter string
		want         []string
	}{
		{"senders", `{"room":{"timeline":{"types":["m.room.message"],"senders":["@carol:` + roomTestServer + `"]}}}`, []string{fromCarol}},
		{"not_senders and types", `{"room":{"timeline":{"limit":3,"not_senders":["@alice:` + roomTestServer + `"],"types":["m.room.message"]}}}`, []string{fromCarol, fromBob, fromBob2}},
		{"not_types wildcard", `{"room":{"timeline":{"limit":2,"not_types":["m.room.m*"]}}}`, nil},
		{"other rooms only", `{"room":{"rooms":["!other:` + roomTestServer + `"]}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := e.sync(alice, "filter", tc.filter)
			jr, ok := resp.Rooms.Join[roomID]
			if tc.want == nil {
				if tc.name == "other rooms only" {
					if ok {
						t.Error("room excluded by the filter is in the response")
					}
					return
				}
				for _, ev := range jr.Timeline.Events {
					if strings.HasPrefix(ev.Type, "m.room.m") {
						t.Errorf("event of type %s passed not_types", ev.Type)
					}
				}
				return
			}
			if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, tc.want) {
				t.Errorf("timeline = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSyncErrors(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	for _, tc := range []struct {
		path    string
		status  int
		errcode string
	}{
		{"/sync?since=garbage", 400, "M_INVALID_PARAM"},
		{"/sync?since=s1_x", 400, "M_INVALID_PARAM"},
		{"/sync?timeout=-5", 400, "M_INVALID_PARAM"},
		{"/sync?full_state=maybe", 400, "M_INVALID_PARAM"},
		{"/sync?set_presence=busy", 400, "M_INVALID_PARAM"},
		{"/sync?filter=%7Bnope", 400, "M_NOT_JSON"},
		{"/sync?filter=%7B%22room%22:%7B%22timeline%22:%7B%22limit%22:0%7D%7D%7D", 400, "M_BAD_JSON"},
		{"/sync?filter=42", 400, "M_INVALID_PARAM"},
		{"/rooms/" + roomID + "/messages?dir=x", 400, "M_INVALID_PARAM"},
		{"/rooms/" + roomID + "/messages?dir=b&from=zzz", 400, "M_INVALID_PARAM"},
		{"/rooms/" + roomID + "/messages?dir=b&limit=-1", 400, "M_INVALID_PARAM"},
		{"/rooms/" + roomID + "/messages?dir=b&filter=%5B", 400, "M_NOT_JSON"},
		{"/rooms/" + roomID + "/context/$nope", 404, "M_NOT_FOUND"},
	} {
		e.wantError("GET", cs+tc.path, alice, nil, tc.status, tc.errcode)
	}
	e.wantError("GET", cs+"/sync", "", nil, 401, "M_MISSING_TOKEN")
	// Bob is not in the room.
	e.wantError("GET", cs+"/rooms/"+roomID+"/messages?dir=b", bob, nil, 403, "M_FORBIDDEN")
	msg := e.send(alice, roomID, "t", "secret")
	e.wantError("GET", cs+"/rooms/"+roomID+"/context/"+msg, bob, nil, 403, "M_FORBIDDEN")
	e.wantError("GET", cs+"/rooms/!unknown:"+roomTestServer+"/messages?dir=b", alice, nil, 403, "M_FORBIDDEN")
	e.wantError("GET", "/_matrix/client/v1/rooms/"+roomID+"/relations/"+msg, bob, nil, 404, "M_NOT_FOUND")
	e.wantError("POST", cs+"/search", alice, map[string]any{}, 400, "M_BAD_JSON")
	e.wantError("POST", cs+"/search", alice, map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "x", "order_by": "size"}}}, 400, "M_BAD_JSON")
	e.wantError("GET", "/_matrix/client/v1/rooms/"+roomID+"/timestamp_to_event?ts=1", alice, nil, 400, "M_MISSING_PARAM")
	e.wantError("GET", "/_matrix/client/v1/rooms/"+roomID+"/timestamp_to_event?ts=x&dir=f", alice, nil, 400, "M_INVALID_PARAM")
}

func TestKeysChangesTakesSyncTokens(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	first, _ := e.sync(alice)
	second, _ := e.sync(alice, "since", first.NextBatch)
	r := e.do("GET", cs+"/keys/changes?from="+url.QueryEscape(first.NextBatch)+"&to="+url.QueryEscape(second.NextBatch), alice, nil)
	if r.Status != 200 {
		t.Errorf("/keys/changes with sync tokens: %d %s", r.Status, r.Body)
	}
	e.wantError("GET", cs+"/keys/changes?from=5&to=s1", alice, nil, 400, "M_INVALID_PARAM")
}

// TestSyncLazyLoadingIncremental: a member who joined before the initial
// sync and speaks only later gets their membership sent then.
func TestSyncLazyLoadingIncremental(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	var toks []string
	for i := range 7 {
		tok := e.user(fmt.Sprint("m", i), false)
		e.must("POST", cs+"/rooms/"+roomID+"/join", tok, map[string]any{}, nil)
		toks = append(toks, tok)
	}
	e.send(alice, roomID, "a", "hello")
	ll := `{"room":{"timeline":{"limit":1},"state":{"lazy_load_members":true}}}`
	first, _ := e.sync(alice, "filter", ll)
	late := "@m6:" + roomTestServer
	for _, ev := range first.Rooms.Join[roomID].State.Events {
		if ev.Type == "m.room.member" && *ev.StateKey == late {
			t.Fatalf("%s (no hero, no sender) was sent in the initial sync", late)
		}
	}
	msg := e.send(toks[6], roomID, "m6", "late hello")
	inc, _ := e.sync(alice, "since", first.NextBatch, "filter", ll)
	jr := inc.Rooms.Join[roomID]
	if got := timelineIDs(jr.Timeline.Events); !slices.Equal(got, []string{msg}) {
		t.Fatalf("timeline = %v", got)
	}
	found := false
	for _, ev := range jr.State.Events {
		found = found || ev.Type == "m.room.member" && *ev.StateKey == late
	}
	if !found {
		t.Errorf("incremental lazy-loading sync lacks the membership of the new sender %s", late)
	}
}

func TestSyncEventFormatAndFields(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	e.send(alice, roomID, "t", "hello")
	// Raw requests: these formats leave out fields the client format
	// requires.
	r := e.do("GET", cs+"/sync?filter="+url.QueryEscape(`{"event_format":"federation","room":{"timeline":{"limit":1}}}`), alice, nil)
	var fed struct {
		Rooms struct {
			Join map[string]struct {
				Timeline struct {
					Events []map[string]json.RawMessage `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	r.JSON(t, &fed)
	evs := fed.Rooms.Join[roomID].Timeline.Events
	if len(evs) != 1 || evs[0]["hashes"] == nil || evs[0]["signatures"] == nil || evs[0]["depth"] == nil {
		t.Errorf("federation format event = %v, want hashes, signatures and depth", evs)
	}
	r = e.do("GET", cs+"/sync?filter="+url.QueryEscape(`{"event_fields":["type","content.body"],"room":{"timeline":{"limit":1}}}`), alice, nil)
	r.JSON(t, &fed)
	evs = fed.Rooms.Join[roomID].Timeline.Events
	if len(evs) != 1 || len(evs[0]) != 2 || string(evs[0]["type"]) != `"m.room.message"` || string(evs[0]["content"]) != `{"body":"hello"}` {
		t.Errorf("event_fields event = %v, want type and content.body only", evs)
	}
}
