package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

// sendContent sends an m.room.message with the given content and returns
// its event ID.
func (e *syncEnv) sendContent(token, roomID, txn string, content map[string]any) string {
	e.tb.Helper()
	var out struct {
		EventID string `json:"event_id"`
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/send/m.room.message/"+txn, token, content, &out)
	return out.EventID
}

func relatesTo(relType, parent string) map[string]any {
	return map[string]any{"rel_type": relType, "event_id": parent}
}

// relationsPage is a /relations or /threads response.
type relationsPage struct {
	Chunk          []syncEvent `json:"chunk"`
	NextBatch      string      `json:"next_batch"`
	PrevBatch      string      `json:"prev_batch"`
	RecursionDepth *int        `json:"recursion_depth"`
}

func (e *syncEnv) relations(token, path, specPath, file string) relationsPage {
	e.tb.Helper()
	r := e.do("GET", "/_matrix/client/v1"+path, token, nil)
	if r.Status != http.StatusOK {
		e.tb.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	specSchemas.checkResponse(e.tb, file, "GET", specPath, 200, r.Body)
	var out relationsPage
	r.JSON(e.tb, &out)
	return out
}

func TestRelationsThreadsAndAggregations(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	bob := e.user("bob", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "public_chat"})
	e.must("POST", cs+"/rooms/"+roomID+"/join", bob, map[string]any{}, nil)

	root := e.send(alice, roomID, "root", "a thread root")
	t1 := e.sendContent(bob, roomID, "t1", map[string]any{"msgtype": "m.text", "body": "reply 1", "m.relates_to": relatesTo("m.thread", root)})
	t2 := e.sendContent(alice, roomID, "t2", map[string]any{"msgtype": "m.text", "body": "reply 2", "m.relates_to": relatesTo("m.thread", root)})
	edit := e.sendContent(alice, roomID, "e1", map[string]any{"msgtype": "m.text", "body": "* edited", "m.new_content": map[string]any{"msgtype": "m.text", "body": "edited"}, "m.relates_to": relatesTo("m.replace", root)})
	// Bob cannot edit alice's message: not bundled.
	e.sendContent(bob, roomID, "e2", map[string]any{"msgtype": "m.text", "body": "* hijack", "m.new_content": map[string]any{"body": "hijack"}, "m.relates_to": relatesTo("m.replace", root)})
	ref := e.sendContent(bob, roomID, "r1", map[string]any{"msgtype": "m.text", "body": "see above", "m.relates_to": relatesTo("m.reference", root)})
	var reaction struct {
		EventID string `json:"event_id"`
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/send/m.reaction/x1", bob, map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": root, "key": "👍"}}, &reaction)
	deep := e.sendContent(alice, roomID, "d1", map[string]any{"msgtype": "m.text", "body": "about the reply", "m.relates_to": relatesTo("m.reference", t1)})
	other := e.send(alice, roomID, "x", "unrelated")

	const relFile = "api/client-server/relations.yaml"
	base := "/rooms/" + roomID + "/relations/" + url.PathEscape(root)

	// All children, newest first; the thread only; one type.
	all := e.relations(alice, base, "/rooms/{roomId}/relations/{eventId}", relFile)
	if got := timelineIDs(all.Chunk); len(got) != 6 || got[0] != reaction.EventID || got[5] != t1 || slices.Contains(got, other) || slices.Contains(got, deep) {
		t.Errorf("children = %v, want the six direct children, newest first", got)
	}
	thread := e.relations(alice, base+"/m.thread", "/rooms/{roomId}/relations/{eventId}/{relType}", relFile)
	if got := timelineIDs(thread.Chunk); !slices.Equal(got, []string{t2, t1}) {
		t.Errorf("thread = %v, want [%s %s]", got, t2, t1)
	}
	ann := e.relations(alice, base+"/m.annotation/m.reaction", "/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", relFile)
	if got := timelineIDs(ann.Chunk); !slices.Equal(got, []string{reaction.EventID}) {
		t.Errorf("annotations = %v, want the reaction", got)
	}
	// Paging: one at a time, forward.
	var fwd []string
	from := ""
	for range 10 {
		q := "?dir=f&limit=1"
		if from != "" {
			q += "&from=" + url.QueryEscape(from)
		}
		page := e.relations(alice, base+q, "/rooms/{roomId}/relations/{eventId}", relFile)
		fwd = append(fwd, timelineIDs(page.Chunk)...)
		if page.NextBatch == "" {
			break
		}
		from = page.NextBatch
	}
	if want := reversed(timelineIDs(all.Chunk)); !slices.Equal(fwd, want) {
		t.Errorf("forward pages = %v, want %v", fwd, want)
	}
	// Recursion reaches the reference to the reply.
	rec := e.relations(alice, base+"/m.reference?recurse=true", "/rooms/{roomId}/relations/{eventId}/{relType}", relFile)
	if got := timelineIDs(rec.Chunk); !slices.Equal(got, []string{deep, ref}) || rec.RecursionDepth == nil || *rec.RecursionDepth < 3 {
		t.Errorf("recursive references = %v (depth %v), want [%s %s], depth >= 3", got, rec.RecursionDepth, deep, ref)
	}

	// Bundled aggregations on the root, through /messages and /context.
	checkBundle := func(where string, ev syncEvent) {
		t.Helper()
		var th struct {
			Count        int       `json:"count"`
			Participated bool      `json:"current_user_participated"`
			Latest       syncEvent `json:"latest_event"`
		}
		if err := json.Unmarshal(ev.Relations["m.thread"], &th); err != nil {
			t.Errorf("%s: m.thread: %v (%s)", where, err, ev.Relations["m.thread"])
		}
		if th.Count != 2 || !th.Participated || th.Latest.EventID != t2 {
			t.Errorf("%s: m.thread = %+v, want count 2, participated, latest %s", where, th, t2)
		}
		var ed syncEvent
		if err := json.Unmarshal(ev.Relations["m.replace"], &ed); err != nil || ed.EventID != edit {
			t.Errorf("%s: m.replace = %s, want %s", where, ev.Relations["m.replace"], edit)
		}
		var refs struct {
			Chunk []struct {
				EventID string `json:"event_id"`
			} `json:"chunk"`
		}
		if err := json.Unmarshal(ev.Relations["m.reference"], &refs); err != nil || len(refs.Chunk) != 1 || refs.Chunk[0].EventID != ref {
			t.Errorf("%s: m.reference = %s, want [%s]", where, ev.Relations["m.reference"], ref)
		}
		if _, ok := ev.Relations["m.annotation"]; ok {
			t.Errorf("%s: annotations are not aggregated", where)
		}
		if ev.Content["body"] != "a thread root" {
			t.Errorf("%s: the root's content was replaced: %v", where, ev.Content)
		}
	}
	msgs := e.messages(alice, roomID, "dir", "b", "limit", "50")
	for _, ev := range msgs.Chunk {
		if ev.EventID == root {
			checkBundle("/messages", ev)
		}
	}
	var ctx struct {
		Event syncEvent `json:"event"`
	}
	e.must("GET", cs+"/rooms/"+roomID+"/context/"+url.PathEscape(root)+"?limit=0", alice, nil, &ctx)
	checkBundle("/context", ctx.Event)
	// A limited /sync bundles; bob participated too.
	resp, _ := e.sync(bob, "filter", `{"room":{"timeline":{"limit":50}}}`)
	for _, ev := range resp.Rooms.Join[roomID].Timeline.Events {
		if ev.EventID == root && ev.Relations != nil {
			t.Errorf("an unlimited sync timeline bundles aggregations: %v", ev.Relations)
		}
	}
	resp, _ = e.sync(bob, "filter", `{"room":{"timeline":{"limit":9}}}`)
	tl := resp.Rooms.Join[roomID].Timeline
	if !tl.Limited || tl.Events[0].EventID != root {
		t.Fatalf("limited timeline starts with %s (limited %v), want the root", tl.Events[0].EventID, tl.Limited)
	}
	checkBundle("/sync", tl.Events[0])

	// /threads lists the root; participated for bob, not for carol.
	const thFile = "api/client-server/threads_list.yaml"
	threads := e.relations(bob, "/rooms/"+roomID+"/threads", "/rooms/{roomId}/threads", thFile)
	if got := timelineIDs(threads.Chunk); !slices.Equal(got, []string{root}) {
		t.Errorf("threads = %v, want [%s]", got, root)
	}
	carol := e.user("carol", false)
	e.must("POST", cs+"/rooms/"+roomID+"/join", carol, map[string]any{}, nil)
	mine := e.relations(carol, "/rooms/"+roomID+"/threads?include=participated", "/rooms/{roomId}/threads", thFile)
	if len(mine.Chunk) != 0 {
		t.Errorf("carol's threads = %v, want none", timelineIDs(mine.Chunk))
	}
	// A second thread, more recently active, comes first; paging by one.
	root2 := e.send(carol, roomID, "root2", "another root")
	e.sendContent(carol, roomID, "t3", map[string]any{"msgtype": "m.text", "body": "r", "m.relates_to": relatesTo("m.thread", root2)})
	p1 := e.relations(carol, "/rooms/"+roomID+"/threads?limit=1", "/rooms/{roomId}/threads", thFile)
	if got := timelineIDs(p1.Chunk); !slices.Equal(got, []string{root2}) || p1.NextBatch == "" {
		t.Fatalf("first page of threads = %v (next %q), want [%s] and a next batch", got, p1.NextBatch, root2)
	}
	p2 := e.relations(carol, "/rooms/"+roomID+"/threads?limit=1&from="+url.QueryEscape(p1.NextBatch), "/rooms/{roomId}/threads", thFile)
	if got := timelineIDs(p2.Chunk); !slices.Equal(got, []string{root}) {
		t.Errorf("second page of threads = %v, want [%s]", got, root)
	}

	// Redacting the edit takes it out of the bundle; the thread reply out
	// of the count.
	e.must("PUT", cs+"/rooms/"+roomID+"/redact/"+url.PathEscape(t2)+"/red1", alice, map[string]any{}, nil)
	e.must("PUT", cs+"/rooms/"+roomID+"/redact/"+url.PathEscape(edit)+"/red2", alice, map[string]any{}, nil)
	e.must("GET", cs+"/rooms/"+roomID+"/context/"+url.PathEscape(root)+"?limit=0", alice, nil, &ctx)
	var th struct {
		Count  int       `json:"count"`
		Latest syncEvent `json:"latest_event"`
	}
	json.Unmarshal(ctx.Event.Relations["m.thread"], &th)
	if th.Count != 1 || th.Latest.EventID != t1 {
		t.Errorf("after redacting a reply: thread %+v, want count 1, latest %s", th, t1)
	}
	if _, ok := ctx.Event.Relations["m.replace"]; ok {
		t.Errorf("a redacted edit is still bundled: %s", ctx.Event.Relations["m.replace"])
	}

	// GET /event gets the same bundle through withAggregations.
	stored, err := e.g.Events.Event(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(root), alice, nil)
	req := httptest.NewRequest("GET", "/", nil)
	sess, err := e.accounts.SessionByAccessToken(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	bundled, err := e.srv.withAggregations(req, sess, stored, r.Body)
	if err != nil {
		t.Fatal(err)
	}
	var single syncEvent
	if err := json.Unmarshal(bundled, &single); err != nil {
		t.Fatal(err)
	}
	if single.EventID != root || single.Relations["m.thread"] == nil || single.Relations["m.reference"] == nil {
		t.Errorf("bundled single event = %s", bundled)
	}

	// Errors.
	e.wantError("GET", "/_matrix/client/v1"+base+"?dir=x", alice, nil, 400, "M_INVALID_PARAM")
	e.wantError("GET", "/_matrix/client/v1/rooms/"+roomID+"/relations/$nope", alice, nil, 404, "M_NOT_FOUND")
	e.wantError("GET", "/_matrix/client/v1/rooms/"+roomID+"/threads?include=mine", alice, nil, 400, "M_INVALID_PARAM")
	e.wantError("GET", "/_matrix/client/v1/rooms/"+roomID+"/threads?from=s5", alice, nil, 400, "M_INVALID_PARAM")
}
