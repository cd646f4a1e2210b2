package web

import (
	"net/url"
	"testing"
)

// FuzzAdminRoomList sends arbitrary query strings to the room list: the
// answer is a 200 or a 400 Matrix error, never a panic or a 500.
func FuzzAdminRoomList(f *testing.F) {
	ts := newTestServer(f)
	admin := ts.registerTestAdmin(f, "admin")
	status, resp := ts.do(f, "POST", "/_matrix/client/v3/createRoom", admin.AccessToken, map[string]any{"name": "fuzz"})
	wantOK(f, "createRoom", status, resp)
	for _, s := range []string{"", "from=1&limit=0", "order_by=size&dir=b", "search_term=fu", "public_rooms=true&empty_rooms=false",
		"from=99999999999999999999", "limit=9223372036854775807&from=9223372036854775807", "dir=%00", "search_term=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		status, resp := ts.do(t, "GET", "/_synapse/admin/v1/rooms?"+values.Encode(), admin.AccessToken, nil)
		if status == 200 {
			if _, ok := resp["rooms"].([]any); !ok {
				t.Fatalf("200 without rooms: %v", resp)
			}
			return
		}
		if status != 400 || resp["errcode"] == nil {
			t.Fatalf("query %q: %d %v", query, status, resp)
		}
	})
}

// FuzzAdminRoomDeleteBody sends arbitrary bodies to the delete API of an
// unknown room: the answer is a Matrix error or a delete_id, never a panic
// or a 500.
func FuzzAdminRoomDeleteBody(f *testing.F) {
	ts := newTestServer(f)
	f.Cleanup(ts.Server.opts.RoomDeletes.Wait)
	admin := ts.registerTestAdmin(f, "admin")
	for _, s := range []string{`{}`, `{"block":true}`, `{"purge":false,"new_room_user_id":"@m:example.org"}`, `{"message":5}`, `[]`, ``, `{"block":null}`} {
		f.Add([]byte(s))
	}
	path := "/_synapse/admin/v2/rooms/" + url.PathEscape("!unknown:example.org")
	f.Fuzz(func(t *testing.T, body []byte) {
		status, resp := ts.do(t, "DELETE", path, admin.AccessToken, body)
		switch {
		case status == 200 && resp["delete_id"] != nil:
		case status >= 400 && status < 500 && resp["errcode"] != nil:
		default:
			t.Fatalf("body %q: %d %v", body, status, resp)
		}
	})
}
