package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestSendIdempotent(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	aliceOther := env.device("alice", "OTHER", false)
	roomID := env.createRoom(alice, map[string]any{})

	first := env.send(alice, roomID, "txn1", "hello")
	again := env.send(alice, roomID, "txn1", "hello, retried")
	if again != first {
		t.Errorf("the same transaction sent %s then %s", first, again)
	}
	other := env.send(alice, roomID, "txn2", "hello")
	otherDevice := env.send(aliceOther, roomID, "txn1", "hello")
	if other == first || otherDevice == first || other == otherDevice {
		t.Errorf("distinct transactions share events: %s %s %s", first, other, otherDevice)
	}

	// The retried body was not sent: the event holds the first body.
	var ev clientEvent
	env.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(first), alice, nil, &ev)
	if ev.Content["body"] != "hello" {
		t.Errorf("content %v", ev.Content)
	}
	// transaction_id is shown to the sending device only.
	if ev.Unsigned.TransactionID != "txn1" {
		t.Errorf("sending device sees transaction_id %q", ev.Unsigned.TransactionID)
	}
	if ev.Unsigned.Age == nil {
		t.Errorf("no unsigned.age")
	}
	var seen clientEvent
	env.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(first), aliceOther, nil, &seen)
	if seen.Unsigned.TransactionID != "" || seen.EventID != first {
		t.Errorf("another device sees transaction_id %q (event %s)", seen.Unsigned.TransactionID, seen.EventID)
	}
}

func TestSendErrors(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	roomID := env.createRoom(alice, map[string]any{"room_version": "10"})
	send := cs + "/rooms/" + roomID + "/send/m.room.message/"
	tests := []struct {
		name, token, path string
		body              any
		status            int
		errcode           string
	}{
		{"not joined", bob, send + "t1", map[string]string{"body": "hi"}, 403, "M_FORBIDDEN"},
		{"unknown room", alice, cs + "/rooms/!nope:" + roomTestServer + "/send/m.room.message/t1", map[string]string{}, 403, "M_FORBIDDEN"},
		{"not JSON", alice, send + "t2", "{", 400, "M_NOT_JSON"},
		{"not an object", alice, send + "t3", "[1]", 400, "M_BAD_JSON"},
		{"float", alice, send + "t4", `{"n": 1.5}`, 400, "M_BAD_JSON"},
		{"too large", alice, send + "t5", map[string]string{"body": strings.Repeat("x", 70000)}, 413, "M_TOO_LARGE"},
		{"type too long", alice, cs + "/rooms/" + roomID + "/send/" + strings.Repeat("t", 256) + "/t6", map[string]string{}, 400, "M_INVALID_PARAM"},
		{"no token", "", send + "t7", map[string]string{}, 401, "M_MISSING_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.tb = t
			r := env.wantError("PUT", tt.path, tt.token, tt.body, tt.status, tt.errcode)
			if tt.name == "not joined" && !strings.Contains(string(r.Body), "auth rule") {
				t.Errorf("an auth failure should name the rule: %s", r.Body)
			}
		})
	}
}

// TestConcurrentSendsLinear sends from several goroutines at once: the
// room's DAG must stay a single chain, each event's prev_events being the
// event before it.
func TestConcurrentSendsLinear(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", true)
	roomID := env.createRoom(alice, map[string]any{})
	const senders, each = 8, 15
	ids := make(chan string, senders*each)
	var tokens []string
	for g := range senders {
		tokens = append(tokens, env.device("alice", fmt.Sprintf("D%d", g), true))
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": "x"})
				r := env.do("PUT", fmt.Sprintf("%s/rooms/%s/send/m.room.message/%d", cs, roomID, i), tok, string(body))
				if r.Status != 200 {
					t.Errorf("send: %d %s", r.Status, r.Body)
					return
				}
				var out struct {
					EventID string `json:"event_id"`
				}
				json.Unmarshal(r.Body, &out)
				ids <- out.EventID
			}
		}()
	}
	wg.Wait()
	close(ids)
	type node struct {
		id    string
		depth int64
		prev  []string
	}
	var nodes []node
	for id := range ids {
		av := env.admin(alice, id)
		var fe struct {
			PrevEvents []string `json:"prev_events"`
		}
		if err := json.Unmarshal(av.PDU, &fe); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node{id, av.Depth, fe.PrevEvents})
	}
	if len(nodes) != senders*each {
		t.Fatalf("%d events sent, want %d", len(nodes), senders*each)
	}
	slices.SortFunc(nodes, func(a, b node) int { return int(a.depth - b.depth) })
	for i := 1; i < len(nodes); i++ {
		if nodes[i].depth != nodes[i-1].depth+1 {
			t.Fatalf("depths %d then %d", nodes[i-1].depth, nodes[i].depth)
		}
		if len(nodes[i].prev) != 1 || nodes[i].prev[0] != nodes[i-1].id {
			t.Fatalf("event at depth %d has prev_events %v, want [%s]", nodes[i].depth, nodes[i].prev, nodes[i-1].id)
		}
	}
	exts, err := env.rooms.ForwardExtremities(t.Context(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	if len(exts) != 1 || exts[0] != nodes[len(nodes)-1].id {
		t.Errorf("forward extremities %v, want the last event %s", exts, nodes[len(nodes)-1].id)
	}
}

func TestRedact(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	bob := env.user("bob", false)
	roomID := env.createRoom(alice, map[string]any{"preset": "public_chat"})
	env.must("POST", cs+"/join/"+roomID, bob, map[string]any{}, nil)
	msg := env.send(alice, roomID, "m1", "secret")
	bobMsg := env.send(bob, roomID, "m2", "oops")

	// Bob (power 0) may redact his own event but not Alice's.
	redact := func(token, target, txn string) response {
		return env.do("PUT", cs+"/rooms/"+roomID+"/redact/"+url.PathEscape(target)+"/"+txn, token, map[string]string{"reason": "r"})
	}
	if r := redact(bob, msg, "r1"); r.Status != 403 || r.errcode() != "M_FORBIDDEN" {
		t.Errorf("bob redacting alice's message: %d %s", r.Status, r.Body)
	}
	if r := redact(bob, bobMsg, "r2"); r.Status != 200 {
		t.Errorf("bob redacting his own message: %d %s", r.Status, r.Body)
	}
	r := redact(alice, msg, "r3")
	if r.Status != 200 {
		t.Fatalf("alice redacting: %d %s", r.Status, r.Body)
	}
	var red struct {
		EventID string `json:"event_id"`
	}
	r.JSON(t, &red)
	if again := redact(alice, msg, "r3"); string(again.Body) != string(r.Body) {
		t.Errorf("retried redaction gave %s, first %s", again.Body, r.Body)
	}
	if r := redact(alice, "$unknown", "r4"); r.Status != 404 {
		t.Errorf("redacting an unknown event: %d %s", r.Status, r.Body)
	}

	var ev clientEvent
	env.must("GET", cs+"/rooms/"+roomID+"/event/"+url.PathEscape(msg), bob, nil, &ev)
	if len(ev.Content) != 0 {
		t.Errorf("redacted content %v", ev.Content)
	}
	var because struct {
		EventID string         `json:"event_id"`
		Content map[string]any `json:"content"`
		Redacts string         `json:"redacts"`
	}
	if err := json.Unmarshal(ev.Unsigned.RedactedBecause, &because); err != nil {
		t.Fatalf("redacted_because %s: %v", ev.Unsigned.RedactedBecause, err)
	}
	if because.EventID != red.EventID || because.Redacts != msg || because.Content["redacts"] != msg {
		t.Errorf("redacted_because %s", ev.Unsigned.RedactedBecause)
	}
}

// TestSendNestingDepth checks the event depth limit on sent content: the
// content sits one level below the event, so a body nested 511 levels is
// the deepest that can be sent; one level more is M_BAD_JSON (the request
// body limit itself, matrixhttp.MaxJSONDepth, is a little higher for
// federation transactions), and 9,000 levels are refused as a body.
func TestSendNestingDepth(t *testing.T) {
	env := newRoomEnv(t)
	alice := env.user("alice", false)
	roomID := env.createRoom(alice, map[string]any{})
	nested := func(depth int) string {
		return strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat("}", depth-1)
	}
	for _, tt := range []struct {
		depth  int
		status int
		code   string
	}{
		{511, 200, ""},
		{512, 400, "M_BAD_JSON"},
		{9000, 400, "M_BAD_JSON"},
	} {
		r := env.do("PUT", fmt.Sprintf("%s/rooms/%s/send/m.room.message/deep%d", cs, url.PathEscape(roomID), tt.depth), alice, nested(tt.depth))
		if r.Status != tt.status || (tt.code != "" && errcodeOf(r.Body) != tt.code) {
			t.Errorf("send nested %d levels = %d %s, want %d %s", tt.depth, r.Status, r.Body, tt.status, tt.code)
		}
	}
}
