package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// searchResult is the room_events part of a /search response.
type searchResult struct {
	Count      int      `json:"count"`
	Highlights []string `json:"highlights"`
	NextBatch  string   `json:"next_batch"`
	Results    []struct {
		Rank    float64   `json:"rank"`
		Result  syncEvent `json:"result"`
		Context *struct {
			Start        string                    `json:"start"`
			End          string                    `json:"end"`
			EventsBefore []syncEvent               `json:"events_before"`
			EventsAfter  []syncEvent               `json:"events_after"`
			ProfileInfo  map[string]map[string]any `json:"profile_info"`
		} `json:"context"`
	} `json:"results"`
	State  map[string][]clientEvent                         `json:"state"`
	Groups map[string]map[string]struct{ Results []string } `json:"groups"`
}

func (e *syncEnv) search(token, nextBatch string, criteria map[string]any) searchResult {
	e.tb.Helper()
	path := cs + "/search"
	if nextBatch != "" {
		path += "?next_batch=" + url.QueryEscape(nextBatch)
	}
	r := e.do("POST", path, token, map[string]any{"search_categories": map[string]any{"room_events": criteria}})
	if r.Status != http.StatusOK {
		e.tb.Fatalf("POST /search: %d %s", r.Status, r.Body)
	}
	specSchemas.checkResponse(e.tb, "api/client-server/search.yaml", "POST", "/search", 200, r.Body)
	var out struct {
		SearchCategories struct {
			RoomEvents searchResult `json:"room_events"`
		} `json:"search_categories"`
	}
	r.JSON(e.tb, &out)
	return out.SearchCategories.RoomEvents
}

func resultIDs(r searchResult) []string {
	out := make([]string, len(r.Results))
	for i, x := range r.Results {
		out[i] = x.Result.EventID
	}
	return out
}

func TestSearch(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat", "name": "Martian society", "topic": "all about martians"})
	other := e.createRoom(bob, map[string]any{"preset": "private_chat"})
	m1 := e.send(alice, roomID, "t1", "Martians and men")
	filler := e.send(alice, roomID, "t2", "nothing here")
	m2 := e.send(alice, roomID, "t3", "martians martians martians attack")
	e.send(bob, other, "t4", "martians in bob's private room")

	// Rank: the message saying it three times first; then recent order.
	res := e.search(alice, "", map[string]any{"search_term": "martians", "keys": []string{"content.body"}})
	if got := resultIDs(res); !slices.Equal(got, []string{m2, m1}) || res.Count != 2 {
		t.Errorf("rank results = %v (count %d), want [%s %s], 2", got, res.Count, m2, m1)
	}
	if len(res.Results) == 2 && res.Results[0].Rank <= res.Results[1].Rank {
		t.Errorf("ranks %v, %v are not decreasing", res.Results[0].Rank, res.Results[1].Rank)
	}
	if !slices.Contains(res.Highlights, "martians") {
		t.Errorf("highlights = %v", res.Highlights)
	}
	// All keys, newest first: the messages, the topic and the name.
	res = e.search(alice, "", map[string]any{"search_term": "martian", "order_by": "recent"})
	got := resultIDs(res)
	if len(got) != 4 || got[0] != m2 || got[1] != m1 {
		t.Errorf("recent results = %v, want m2, m1, then the topic and name", got)
	}
	for _, r := range res.Results[2:] {
		if r.Result.Type != "m.room.topic" && r.Result.Type != "m.room.name" {
			t.Errorf("result of type %s", r.Result.Type)
		}
		if r.Result.RoomID != roomID {
			t.Errorf("result room %q", r.Result.RoomID)
		}
	}
	// Paging with next_batch, one result at a time.
	var paged []string
	next := ""
	for range 10 {
		r := e.search(alice, next, map[string]any{"search_term": "martian", "order_by": "recent", "filter": map[string]any{"limit": 1}})
		paged = append(paged, resultIDs(r)...)
		if r.NextBatch == "" {
			break
		}
		next = r.NextBatch
	}
	if !slices.Equal(paged, got) {
		t.Errorf("recent pages = %v, want %v", paged, got)
	}
	paged, next = nil, ""
	for range 10 {
		r := e.search(alice, next, map[string]any{"search_term": "martians", "keys": []string{"content.body"}, "filter": map[string]any{"limit": 1}})
		paged = append(paged, resultIDs(r)...)
		if r.NextBatch == "" {
			break
		}
		next = r.NextBatch
	}
	if !slices.Equal(paged, []string{m2, m1}) {
		t.Errorf("rank pages = %v, want [%s %s]", paged, m2, m1)
	}

	// Context, profiles, state and groups.
	res = e.search(alice, "", map[string]any{
		"search_term": "attack", "include_state": true,
		"event_context": map[string]any{"before_limit": 1, "after_limit": 1, "include_profile": true},
		"groupings":     map[string]any{"group_by": []map[string]string{{"key": "room_id"}, {"key": "sender"}}},
	})
	if got := resultIDs(res); !slices.Equal(got, []string{m2}) {
		t.Fatalf("results = %v, want [%s]", got, m2)
	}
	c := res.Results[0].Context
	if c == nil || len(c.EventsBefore) != 1 || c.EventsBefore[0].EventID != filler || len(c.EventsAfter) != 0 || c.Start == "" || c.End == "" {
		t.Errorf("context = %+v, want %s before and nothing after", c, filler)
	} else if _, ok := c.ProfileInfo["@alice:"+roomTestServer]; !ok {
		t.Errorf("profile_info = %v, want alice's", c.ProfileInfo)
	}
	if len(res.State[roomID]) == 0 {
		t.Error("include_state: no state for the room")
	}
	if g := res.Groups["room_id"][roomID].Results; !slices.Equal(g, []string{m2}) {
		t.Errorf("room group = %v", g)
	}
	if g := res.Groups["sender"]["@alice:"+roomTestServer].Results; !slices.Equal(g, []string{m2}) {
		t.Errorf("sender group = %v", g)
	}

	// Filters: by room, by sender, by type.
	if r := e.search(bob, "", map[string]any{"search_term": "martians", "filter": map[string]any{"rooms": []string{other}}}); len(r.Results) != 1 {
		t.Errorf("bob's search in his room = %v", resultIDs(r))
	}
	if r := e.search(alice, "", map[string]any{"search_term": "martian", "filter": map[string]any{"types": []string{"m.room.name"}}}); len(r.Results) != 1 || r.Results[0].Result.Type != "m.room.name" {
		t.Errorf("type-filtered search = %v", resultIDs(r))
	}
	// Bob is not in alice's room yet; once he joins he sees its history
	// (shared visibility).
	if r := e.search(bob, "", map[string]any{"search_term": "attack"}); len(r.Results) != 0 {
		t.Errorf("bob found %v in a room he is not in", resultIDs(r))
	}
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	if r := e.search(bob, "", map[string]any{"search_term": "attack"}); !slices.Equal(resultIDs(r), []string{m2}) {
		t.Errorf("bob's search after joining = %v, want [%s]", resultIDs(r), m2)
	}
	// A message is searchable as soon as it is sent.
	fresh := e.send(alice, roomID, "t5", fmt.Sprint("zebra crossing"))
	if r := e.search(alice, "", map[string]any{"search_term": "zebra"}); !slices.Equal(resultIDs(r), []string{fresh}) {
		t.Errorf("fresh message search = %v, want [%s]", resultIDs(r), fresh)
	}
	// Nothing matches a term of punctuation only.
	if r := e.search(alice, "", map[string]any{"search_term": `"*:()`}); len(r.Results) != 0 || r.Count != 0 {
		t.Errorf("punctuation search = %v", resultIDs(r))
	}
	e.wantError("POST", cs+"/search?next_batch=zz", alice, map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "x"}}}, 400, "M_INVALID_PARAM")
	e.wantError("POST", cs+"/search", alice, map[string]any{"search_categories": map[string]any{"room_events": map[string]any{"search_term": "x", "keys": []string{"content.url"}}}}, 400, "M_BAD_JSON")
}

// TestSearchCountAfterLeave checks that /search's count only counts what
// the searcher may see: messages sent after they left a room, and ones
// from users they ignore, are neither found nor counted.
func TestSearchCountAfterLeave(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	before := e.send(alice, roomID, "b1", "secret plans, part one")
	e.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	for i := range 4 {
		e.send(alice, roomID, fmt.Sprint("a", i), fmt.Sprint("secret plans, part ", i+2))
	}
	for _, order := range []string{"rank", "recent"} {
		r := e.search(bob, "", map[string]any{"search_term": "secret plans", "order_by": order})
		if !slices.Equal(resultIDs(r), []string{before}) || r.Count != 1 {
			t.Errorf("%s: bob, who left, found %v, count %d; want [%s], count 1", order, resultIDs(r), r.Count, before)
		}
	}
	if r := e.search(alice, "", map[string]any{"search_term": "secret plans"}); r.Count != 5 {
		t.Errorf("alice's count = %d, want 5", r.Count)
	}
	// Ignoring alice hides her messages from bob's count too.
	e.must("PUT", cs+"/user/"+url.PathEscape("@bob:"+roomTestServer)+"/account_data/m.ignored_user_list", bob,
		map[string]any{"ignored_users": map[string]any{"@alice:" + roomTestServer: map[string]any{}}}, nil)
	if r := e.search(bob, "", map[string]any{"search_term": "secret plans"}); r.Count != 0 || len(r.Results) != 0 {
		t.Errorf("bob ignoring alice: found %v, count %d; want none", resultIDs(r), r.Count)
	}
}

// TestSearchCountPages checks the count across more matches than one page
// of the count's walk.
func TestSearchCountPages(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	for i := range 620 {
		e.send(alice, roomID, fmt.Sprint("p", i), fmt.Sprint("paged note ", i))
	}
	e.must("POST", cs+"/rooms/"+roomID+"/leave", bob, map[string]any{}, nil)
	for i := range 3 {
		e.send(alice, roomID, fmt.Sprint("q", i), fmt.Sprint("paged note after ", i))
	}
	if r := e.search(bob, "", map[string]any{"search_term": "paged note"}); r.Count != 620 {
		t.Errorf("bob's count = %d, want 620", r.Count)
	}
	if r := e.search(alice, "", map[string]any{"search_term": "paged note"}); r.Count != 623 {
		t.Errorf("alice's count = %d, want 623", r.Count)
	}
}

// TestSearchCountBeforeJoin checks the count in a room the searcher is
// joined to, where history before their join is hidden ("joined"
// visibility): only what came after the join counts, with and without a
// filter on senders, and nothing from a user they ignore.
func TestSearchCountBeforeJoin(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat", "initial_state": []any{
		map[string]any{"type": "m.room.history_visibility", "state_key": "", "content": map[string]any{"history_visibility": "joined"}},
	}})
	for i := range 3 {
		e.send(alice, roomID, fmt.Sprint("h", i), fmt.Sprint("hidden note ", i))
	}
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	var seen []string
	for i := range 2 {
		seen = append(seen, e.send(alice, roomID, fmt.Sprint("s", i), fmt.Sprint("hidden note seen ", i)))
	}
	slices.Reverse(seen)
	for _, filter := range []map[string]any{nil, {"senders": []string{"@alice:" + roomTestServer}}} {
		body := map[string]any{"search_term": "hidden note", "order_by": "recent"}
		if filter != nil {
			body["filter"] = filter
		}
		if r := e.search(bob, "", body); !slices.Equal(resultIDs(r), seen) || r.Count != 2 {
			t.Errorf("filter %v: bob found %v, count %d; want %v, count 2", filter, resultIDs(r), r.Count, seen)
		}
	}
	if r := e.search(alice, "", map[string]any{"search_term": "hidden note"}); r.Count != 5 {
		t.Errorf("alice's count = %d, want 5", r.Count)
	}
	e.must("PUT", cs+"/user/"+url.PathEscape("@bob:"+roomTestServer)+"/account_data/m.ignored_user_list", bob,
		map[string]any{"ignored_users": map[string]any{"@alice:" + roomTestServer: map[string]any{}}}, nil)
	if r := e.search(bob, "", map[string]any{"search_term": "hidden note"}); r.Count != 0 || len(r.Results) != 0 {
		t.Errorf("bob ignoring alice: found %v, count %d; want none", resultIDs(r), r.Count)
	}
}

// TestSearchAfterInviteThenJoin: a room bob was invited to is not
// searched; once he joins it, its history ("shared" visibility, a
// private chat's) is, by rank as by time, in the results and the count,
// although he searched the same words while invited. A later change of
// the room's history visibility to "joined" changes nothing already
// sent: each event is seen by the visibility in force when it was sent.
func TestSearchAfterInviteThenJoin(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	own := e.createRoom(bob, map[string]any{"preset": "private_chat"})
	want := []string{e.send(bob, own, "o", "orchard plans")}
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	for i := range 3 {
		want = append(want, e.send(alice, roomID, fmt.Sprint("h", i), fmt.Sprint("orchard plans, older ", i)))
	}
	slices.Sort(want)
	e.must("POST", cs+"/rooms/"+roomID+"/invite", alice, map[string]any{"user_id": "@bob:" + roomTestServer}, nil)
	for _, order := range []string{"rank", "recent"} {
		if r := e.search(bob, "", map[string]any{"search_term": "orchard", "order_by": order}); len(r.Results) != 1 || r.Count != 1 {
			t.Errorf("%s, bob invited: found %v, count %d; want his own room's message only", order, resultIDs(r), r.Count)
		}
	}
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)
	check := func(when string) {
		t.Helper()
		for _, order := range []string{"rank", "recent"} {
			r := e.search(bob, "", map[string]any{"search_term": "orchard", "order_by": order})
			got := resultIDs(r)
			slices.Sort(got)
			if !slices.Equal(got, want) || r.Count != len(want) {
				t.Errorf("%s, %s: bob found %v, count %d; want %v, count %d", order, when, got, r.Count, want, len(want))
			}
		}
	}
	check("after his join")
	e.must("PUT", cs+"/rooms/"+roomID+"/state/m.room.history_visibility/", alice,
		map[string]any{"history_visibility": "joined"}, nil)
	check("after the visibility became joined")
}
