package web

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReceiptsAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	room, evs := ps.testRoom(t, bob, []testUser{alice}, `{"msgtype":"m.text","body":"one"}`, `{"msgtype":"m.text","body":"two"}`)
	// The third message is in the thread of the first.
	status, body := ps.do(t, "PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/send/m.room.message/three", bob.AccessToken,
		`{"msgtype":"m.text","body":"three","m.relates_to":{"rel_type":"m.thread","event_id":"`+evs[0]+`"}}`)
	wantOK(t, "send in a thread", status, body)
	evs = append(evs, body["event_id"].(string))
	receipt := func(typ, ev string) string {
		return "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/receipt/" + typ + "/" + url.PathEscape(ev)
	}
	markers := "/_matrix/client/v3/rooms/" + url.PathEscape(room) + "/read_markers"

	changed := ps.Server.opts.Notifier.Changed()
	status, body = ps.do(t, "POST", receipt("m.read", evs[0]), alice.AccessToken, `{}`)
	wantOK(t, "m.read", status, body)
	select {
	case <-changed:
	default:
		t.Error("a receipt did not wake /sync")
	}
	status, body = ps.do(t, "POST", receipt("m.read.private", evs[1]), alice.AccessToken, `{"thread_id":"main"}`)
	wantOK(t, "threaded m.read.private", status, body)
	status, body = ps.do(t, "POST", receipt("m.fully_read", evs[1]), alice.AccessToken, nil)
	wantOK(t, "m.fully_read", status, body)
	status, body = ps.do(t, "GET", "/_matrix/client/v3/user/"+alice.UserID+"/rooms/"+url.PathEscape(room)+"/account_data/m.fully_read", alice.AccessToken, nil)
	if status != 200 || body["event_id"] != evs[1] {
		t.Errorf("m.fully_read = %d %v", status, body)
	}
	status, body = ps.do(t, "POST", markers, alice.AccessToken, `{"m.fully_read":"`+evs[2]+`","m.read":"`+evs[2]+`"}`)
	wantOK(t, "read_markers", status, body)
	status, body = ps.do(t, "GET", "/_matrix/client/v3/user/"+alice.UserID+"/rooms/"+url.PathEscape(room)+"/account_data/m.fully_read", alice.AccessToken, nil)
	if status != 200 || body["event_id"] != evs[2] {
		t.Errorf("m.fully_read after read_markers = %d %v", status, body)
	}
	status, body = ps.do(t, "POST", markers, alice.AccessToken, `{}`)
	wantOK(t, "empty read_markers", status, body)

	// The receipt store has what the requests said; bob does not see the
	// private receipt.
	ctx := context.Background()
	end, err := ps.receipts.ReceiptPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := ps.receipts.ReceiptContents(ctx, alice.UserID, []string{room}, 0, end)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"` + evs[1] + `":{"m.read.private":{"` + alice.UserID + `":{"ts":1700000000000,"thread_id":"main"}}},"` +
		evs[2] + `":{"m.read":{"` + alice.UserID + `":{"ts":1700000000000}}}}`
	var got, wantV any
	if err := json.Unmarshal(mine[room], &got); err != nil {
		t.Fatalf("alice's receipts %s: %v", mine[room], err)
	}
	json.Unmarshal([]byte(want), &wantV)
	if diff := cmp.Diff(wantV, got); diff != "" {
		t.Errorf("alice's receipts (-want +got):\n%s", diff)
	}
	theirs, _ := ps.receipts.ReceiptContents(ctx, bob.UserID, []string{room}, 0, end)
	if strings.Contains(string(theirs[room]), "m.read.private") {
		t.Errorf("bob sees %s", theirs[room])
	}
	tests := []struct {
		name, path, token string
		body              any
		status            int
		code              string
	}{
		{"not joined", receipt("m.read", evs[0]), ps.registerTestUser(t, "carol").AccessToken, `{}`, 403, "M_FORBIDDEN"},
		{"unknown type", receipt("m.seen", evs[0]), alice.AccessToken, `{}`, 400, "M_INVALID_PARAM"},
		{"unknown event", receipt("m.read", "$nope:example.org"), alice.AccessToken, `{}`, 404, "M_NOT_FOUND"},
		{"not an event ID", receipt("m.read", "nope"), alice.AccessToken, `{}`, 400, "M_INVALID_PARAM"},
		{"empty thread", receipt("m.read", evs[0]), alice.AccessToken, `{"thread_id":""}`, 400, "M_INVALID_PARAM"},
		{"thread not a string", receipt("m.read", evs[0]), alice.AccessToken, `{"thread_id":1}`, 400, "M_INVALID_PARAM"},
		{"thread on fully read", receipt("m.fully_read", evs[0]), alice.AccessToken, `{"thread_id":"main"}`, 400, "M_INVALID_PARAM"},
		{"event outside the thread", receipt("m.read", evs[0]), alice.AccessToken, `{"thread_id":"` + evs[1] + `"}`, 400, "M_INVALID_PARAM"},
		{"bad room", "/_matrix/client/v3/rooms/nope/receipt/m.read/" + url.PathEscape(evs[0]), alice.AccessToken, `{}`, 400, "M_INVALID_PARAM"},
		{"not JSON", receipt("m.read", evs[0]), alice.AccessToken, `{`, 400, "M_NOT_JSON"},
		{"markers not joined", markers, ps.registerTestUser(t, "dave").AccessToken, `{}`, 403, "M_FORBIDDEN"},
		{"marker not a string", markers, alice.AccessToken, `{"m.fully_read":5}`, 400, "M_BAD_JSON"},
		{"marker for unknown event", markers, alice.AccessToken, `{"m.read":"$nope:example.org"}`, 404, "M_NOT_FOUND"},
		{"markers not an object", markers, alice.AccessToken, `[]`, 400, "M_BAD_JSON"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, "POST", tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.status, tt.code)
	}
}
