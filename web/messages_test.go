package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"hearth.dev/hearth/core"
)

// allEvents returns the IDs of every event of roomID the user sees, oldest
// first, read forward in one page.
func (e *syncEnv) allEvents(token, roomID string) []string {
	e.tb.Helper()
	page := e.messages(token, roomID, "dir", "f", "limit", "1000")
	if page.End != "" {
		e.tb.Fatalf("a 1000-event page of a small room has an end token")
	}
	return timelineIDs(page.Chunk)
}

// pageAll pages /messages in direction dir from from (may be "") with
// random page sizes until no end token comes back, and returns the events
// in the order they came.
func (e *syncEnv) pageAll(rng *rand.Rand, token, roomID, dir, from, to string) []string {
	e.tb.Helper()
	var out []string
	for pages := 0; ; pages++ {
		if pages > 500 {
			e.tb.Fatal("pagination does not end")
		}
		limit := fmt.Sprint(1 + rng.IntN(12))
		page := e.messages(token, roomID, "dir", dir, "from", from, "to", to, "limit", limit)
		if page.Start == "" {
			e.tb.Fatal("no start token")
		}
		out = append(out, timelineIDs(page.Chunk)...)
		if page.End == "" {
			return out
		}
		if len(page.Chunk) == 0 {
			e.tb.Fatalf("empty page with an end token %q", page.End)
		}
		from = page.End
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestMessagesPagination checks, over random page sizes, that a /sync
// timeline continued backward through /messages from its prev_batch, and
// /messages paged forward or backward from either end, return every event
// exactly once and in order.
func TestMessagesPagination(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	for i := range 57 {
		tok := alice
		if i%3 == 0 {
			tok = bob
		}
		if i%10 == 5 {
			e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.topic", alice, map[string]string{"topic": fmt.Sprint("topic ", i)}, nil)
			continue
		}
		e.send(tok, roomID, fmt.Sprint("t", i), fmt.Sprint("message ", i))
	}
	all := e.allEvents(alice, roomID)
	if len(all) < 60 {
		t.Fatalf("the room has %d events, want at least 60", len(all))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(all)))) != len(all) {
		t.Fatal("the reference page repeats events")
	}

	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 17))
		limit := 1 + rng.IntN(20)
		resp, _ := e.sync(alice, "filter", fmt.Sprintf(`{"room":{"timeline":{"limit":%d}}}`, limit))
		tl := resp.Rooms.Join[roomID].Timeline
		if len(tl.Events) != limit || !tl.Limited {
			t.Fatalf("seed %d: timeline of %d events (limited %v), want %d, limited", seed, len(tl.Events), tl.Limited, limit)
		}
		back := e.pageAll(rng, alice, roomID, "b", tl.PrevBatch, "")
		got := append(reversed(back), timelineIDs(tl.Events)...)
		if !slices.Equal(got, all) {
			t.Errorf("seed %d: sync timeline of %d + /messages from prev_batch:\n got %v\nwant %v", seed, limit, got, all)
		}
		if fwd := e.pageAll(rng, alice, roomID, "f", "", ""); !slices.Equal(fwd, all) {
			t.Errorf("seed %d: forward pages:\n got %v\nwant %v", seed, fwd, all)
		}
		if bwd := e.pageAll(rng, alice, roomID, "b", "", ""); !slices.Equal(reversed(bwd), all) {
			t.Errorf("seed %d: backward pages:\n got %v\nwant %v", seed, reversed(bwd), all)
		}
		// Forward from prev_batch gives the timeline back.
		if fwd := e.pageAll(rng, alice, roomID, "f", tl.PrevBatch, ""); !slices.Equal(fwd, all[len(all)-limit+1:]) {
			t.Errorf("seed %d: forward from prev_batch = %v, want the timeline after its first event", seed, fwd)
		}
	}
}

// TestMessagesFillsSyncGap follows the spec's example: a limited
// incremental sync leaves a gap between since and prev_batch that
// /messages fills, in either direction.
func TestMessagesFillsSyncGap(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	first, _ := e.sync(alice)
	var sent []string
	for i := range 20 {
		sent = append(sent, e.send(alice, roomID, fmt.Sprint("t", i), fmt.Sprint("message ", i)))
	}
	inc, _ := e.sync(alice, "since", first.NextBatch, "filter", `{"room":{"timeline":{"limit":5}}}`)
	tl := inc.Rooms.Join[roomID].Timeline
	if got := timelineIDs(tl.Events); !slices.Equal(got, sent[15:]) || !tl.Limited {
		t.Fatalf("incremental timeline = %v (limited %v), want the last 5, limited", got, tl.Limited)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if got := e.pageAll(rng, alice, roomID, "f", first.NextBatch, tl.PrevBatch); !slices.Equal(got, sent[:15]) {
		t.Errorf("forward from since to prev_batch = %v, want %v", got, sent[:15])
	}
	if got := e.pageAll(rng, alice, roomID, "b", tl.PrevBatch, first.NextBatch); !slices.Equal(reversed(got), sent[:15]) {
		t.Errorf("backward from prev_batch to since = %v, want %v", reversed(got), sent[:15])
	}
	// A sync token as from reads from that point of the room.
	page := e.messages(alice, roomID, "dir", "b", "from", inc.NextBatch, "limit", "2")
	if got := timelineIDs(page.Chunk); !slices.Equal(got, []string{sent[19], sent[18]}) {
		t.Errorf("backward from next_batch = %v, want the two newest", got)
	}
}

func TestMessagesLazyLoadingAndVisibility(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.history_visibility", alice, map[string]string{"history_visibility": "joined"}, nil)
	before := e.send(alice, roomID, "t1", "before bob")
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	after := e.send(alice, roomID, "t2", "after bob")
	fromBob := e.send(bob, roomID, "t3", "bob here")

	// Bob sees from his join on (his join, alice's and his message) and
	// what was shared before the room turned to "joined", not what was
	// sent while it was.
	got := e.pageAll(rand.New(rand.NewPCG(3, 4)), bob, roomID, "b", "", "")
	if len(got) < 4 || got[0] != fromBob || got[1] != after || slices.Contains(got, before) {
		t.Errorf("bob's history = %v, want %s, %s, his join, the shared history, without %s", got, fromBob, after, before)
	}
	var join clientEvent
	if len(got) > 2 {
		e.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(got[2]), bob, nil, &join)
		if join.Type != "m.room.member" || join.Sender != "@bob:"+roomTestServer {
			t.Errorf("third newest event for bob = %s from %s, want his join", join.Type, join.Sender)
		}
	}
	// Alice sees it all.
	if all := e.allEvents(alice, roomID); !slices.Contains(all, before) || !slices.Contains(all, fromBob) {
		t.Errorf("alice's history %v lacks events", all)
	}

	// Lazy loading: the state holds the members of the chunk's senders.
	page := e.messages(alice, roomID, "dir", "b", "limit", "2", "filter", `{"lazy_load_members":true}`)
	if got := timelineIDs(page.Chunk); !slices.Equal(got, []string{fromBob, after}) {
		t.Fatalf("chunk = %v", got)
	}
	var members []string
	for _, ev := range page.State {
		if ev.Type != "m.room.member" {
			t.Errorf("lazy-loading state holds %s", ev.Type)
			continue
		}
		members = append(members, *ev.StateKey)
	}
	slices.Sort(members)
	if want := []string{"@alice:" + roomTestServer, "@bob:" + roomTestServer}; !slices.Equal(members, want) {
		t.Errorf("lazy-loaded members = %v, want %v", members, want)
	}
	// A type filter.
	page = e.messages(alice, roomID, "dir", "f", "filter", `{"types":["m.room.message"],"senders":["@bob:`+roomTestServer+`"]}`)
	if got := timelineIDs(page.Chunk); !slices.Equal(got, []string{fromBob}) {
		t.Errorf("filtered chunk = %v, want [%s]", got, fromBob)
	}
	// Room events read right after they are sent.
	latest := e.send(alice, roomID, "t4", "now")
	page = e.messages(alice, roomID, "dir", "b", "limit", "1")
	if got := timelineIDs(page.Chunk); !slices.Equal(got, []string{latest}) {
		t.Errorf("newest event = %v, want %s just sent", got, latest)
	}
}

func TestContext(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	var sent []string
	for i := range 9 {
		sent = append(sent, e.send(alice, roomID, fmt.Sprint("t", i), fmt.Sprint("message ", i)))
	}
	r := e.do("GET", cs+"/rooms/"+roomID+"/context/"+url.PathEscape(sent[4])+"?limit=4", alice, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/context: %d %s", r.Status, r.Body)
	}
	specSchemas.checkResponse(t, "api/client-server/event_context.yaml", "GET", "/rooms/{roomId}/context/{eventId}", 200, r.Body)
	var ctx struct {
		Start        string        `json:"start"`
		End          string        `json:"end"`
		EventsBefore []syncEvent   `json:"events_before"`
		Event        syncEvent     `json:"event"`
		EventsAfter  []syncEvent   `json:"events_after"`
		State        []clientEvent `json:"state"`
	}
	r.JSON(t, &ctx)
	if ctx.Event.EventID != sent[4] || ctx.Event.RoomID != roomID {
		t.Errorf("event = %s in %s, want %s", ctx.Event.EventID, ctx.Event.RoomID, sent[4])
	}
	if got := timelineIDs(ctx.EventsBefore); !slices.Equal(got, []string{sent[3], sent[2]}) {
		t.Errorf("events_before = %v, want %v", got, []string{sent[3], sent[2]})
	}
	if got := timelineIDs(ctx.EventsAfter); !slices.Equal(got, []string{sent[5], sent[6]}) {
		t.Errorf("events_after = %v, want %v", got, []string{sent[5], sent[6]})
	}
	types := map[string]bool{}
	for _, ev := range ctx.State {
		types[ev.Type] = true
	}
	if !types["m.room.create"] || !types["m.room.member"] {
		t.Errorf("state lacks create or member: %v", types)
	}
	// The tokens continue with /messages.
	back := e.messages(alice, roomID, "dir", "b", "from", ctx.Start, "limit", "2")
	if got := timelineIDs(back.Chunk); !slices.Equal(got, []string{sent[1], sent[0]}) {
		t.Errorf("/messages from start = %v, want %v", got, []string{sent[1], sent[0]})
	}
	fwd := e.messages(alice, roomID, "dir", "f", "from", ctx.End, "limit", "5")
	if got := timelineIDs(fwd.Chunk); !slices.Equal(got, sent[7:]) || fwd.End != "" {
		t.Errorf("/messages from end = %v (end %q), want %v and no end", got, fwd.End, sent[7:])
	}
	// limit=0 returns the event alone.
	var alone struct {
		EventsBefore []syncEvent `json:"events_before"`
		EventsAfter  []syncEvent `json:"events_after"`
	}
	e.must("GET", cs+"/rooms/"+roomID+"/context/"+url.PathEscape(sent[4])+"?limit=0", alice, nil, &alone)
	if len(alone.EventsBefore)+len(alone.EventsAfter) != 0 {
		t.Errorf("limit=0 returned %d context events", len(alone.EventsBefore)+len(alone.EventsAfter))
	}
}

func TestTimestampToEvent(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	msg := e.send(alice, roomID, "t", "hello")
	var ev clientEvent
	e.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(msg), alice, nil, &ev)
	path := "/_matrix/client/v1/rooms/" + roomID + "/timestamp_to_event"
	var got struct {
		EventID        string `json:"event_id"`
		OriginServerTS int64  `json:"origin_server_ts"`
	}
	e.must("GET", fmt.Sprintf("%s?dir=b&ts=%d", path, ev.OriginServerTS+1000), alice, nil, &got)
	if got.EventID != msg || got.OriginServerTS != ev.OriginServerTS {
		t.Errorf("backward from after the message = %+v, want %s", got, msg)
	}
	e.must("GET", fmt.Sprintf("%s?dir=f&ts=%d", path, ev.OriginServerTS), alice, nil, &got)
	if got.EventID != msg {
		t.Errorf("forward from the message's time = %s, want %s", got.EventID, msg)
	}
	e.wantError("GET", fmt.Sprintf("%s?dir=f&ts=%d", path, ev.OriginServerTS+1), alice, nil, 404, "M_NOT_FOUND")
	e.must("GET", path+"?dir=f&ts=0", alice, nil, &got)
	if got.EventID == "" || got.EventID == msg {
		t.Errorf("forward from 0 = %s, want the room's first event", got.EventID)
	}
}

// TestMessagesEqualDepths pages through a room whose DAG forks: sibling
// events of equal depth, persisted straight to storage as if they came
// over federation. Pages never repeat nor skip one, whatever their size.
func TestMessagesEqualDepths(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	base := e.send(alice, roomID, "t0", "base")
	ctx := context.Background()
	events := e.g.Events
	parent, err := events.Event(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(parent.JSON, &tmpl); err != nil {
		t.Fatal(err)
	}
	var forks []core.NewEvent
	prev := []string{base}
	for level := range 4 {
		var ids []string
		for sib := range 3 {
			ev := maps.Clone(tmpl)
			ev["depth"] = parent.Depth + 1 + int64(level)
			ev["content"] = map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("fork %d.%d", level, sib)}
			ev["prev_events"] = prev
			js, _ := json.Marshal(ev)
			h := sha256.Sum256(fmt.Appendf(nil, "fork %d.%d", level, sib))
			id := "$" + base64.RawURLEncoding.EncodeToString(h[:])
			forks = append(forks, core.NewEvent{
				EventID: id, RoomID: roomID, Type: "m.room.message", Sender: parent.Sender,
				Depth: parent.Depth + 1 + int64(level), OriginServerTS: parent.OriginServerTS + int64(level),
				PrevEvents: prev, JSON: js, FormatVersion: parent.FormatVersion, StateGroup: parent.StateGroup,
			})
			ids = append(ids, id)
		}
		prev = ids
	}
	if _, err := events.PersistEvents(ctx, forks, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	all := e.allEvents(alice, roomID)
	if len(all) < 13 {
		t.Fatalf("room has %d events", len(all))
	}
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 99))
		if got := e.pageAll(rng, alice, roomID, "f", "", ""); !slices.Equal(got, all) {
			t.Errorf("seed %d: forward pages:\n got %v\nwant %v", seed, got, all)
		}
		if got := e.pageAll(rng, alice, roomID, "b", "", ""); !slices.Equal(reversed(got), all) {
			t.Errorf("seed %d: backward pages:\n got %v\nwant %v", seed, reversed(got), all)
		}
	}
	// The sync timeline (stream order) continued by /messages covers the
	// room too.
	resp, _ := e.sync(alice, "filter", `{"room":{"timeline":{"limit":5}}}`)
	tl := resp.Rooms.Join[roomID].Timeline
	back := e.pageAll(rand.New(rand.NewPCG(7, 7)), alice, roomID, "b", tl.PrevBatch, "")
	if got := append(reversed(back), timelineIDs(tl.Events)...); !slices.Equal(got, all) {
		t.Errorf("sync + /messages:\n got %v\nwant %v", got, all)
	}
}
