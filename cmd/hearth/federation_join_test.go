package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"image"
	pngenc "image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"hearth.dev/hearth"
	"hearth.dev/hearth/federation"
)

// testHS is a hearth opened in-process as hearth.Open builds it, its
// federation handler served over TLS at its name (an IP literal with a
// port), its client API called through its handler.
type testHS struct {
	t      *testing.T
	hs     *hearth.Homeserver
	name   string
	token  string // the access token of @user:name
	user   string
	device string
}

func openTestHS(t *testing.T, ca *testCA, ip, localpart string) *testHS {
	t.Helper()
	port := freePort(t, ip)
	name := ip + ":" + strconv.Itoa(port)
	cfg := hearth.DefaultConfig()
	cfg.ServerName, cfg.DataDir, cfg.LogLevel = name, t.TempDir(), "error"
	cfg.Federation.CAFile, cfg.Federation.AllowPrivateAddresses = ca.path("ca.pem"), "true"
	hs, err := hearth.Open(context.Background(), cfg, hearth.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	certFile, keyFile := ca.issue(t, ip)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", name)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(hs.Federation)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx := context.Background()
	// The server's first account, made as an embedding app makes it, and
	// logged in through the client API.
	user, err := hs.CreateOwner(ctx, localpart, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	token, device := loginThrough(t, hs.Handler, user, "a long enough password")
	return &testHS{t: t, hs: hs, name: name, token: token, user: user, device: device}
}

// loginThrough logs user in with password through the client API handler
// h and returns the access token and device ID.
func loginThrough(t *testing.T, h http.Handler, user, password string) (token, device string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": user},
		"password":   password,
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/_matrix/client/v3/login", bytes.NewReader(b)))
	var out struct {
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 || out.AccessToken == "" {
		t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body.String())
	}
	return out.AccessToken, out.DeviceID
}

// call makes a client-server API request as the server's user and
// decodes the answer into out; it returns the status.
func (s *testHS) call(method, path string, body any, out any) int {
	s.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+s.token)
	rec := httptest.NewRecorder()
	s.hs.Handler.ServeHTTP(rec, req)
	if out != nil {
		json.Unmarshal(rec.Body.Bytes(), out)
	}
	if rec.Code != 200 {
		s.t.Logf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec.Code
}

// TestRemoteJoin: bob on B joins alice's public room on A by its alias;
// both servers then hold the room with both members.
func TestRemoteJoin(t *testing.T) {
	ca := newTestCA(t)
	a := openTestHS(t, ca, "127.0.0.1", "alice")
	b := openTestHS(t, ca, "127.0.0.2", "bob")
	if code := a.call("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(a.user)+"/displayname", map[string]string{"displayname": "Alice"}, nil); code != 200 {
		t.Fatalf("set display name: %d", code)
	}
	var created struct {
		RoomID string `json:"room_id"`
	}
	if code := a.call("POST", "/_matrix/client/v3/createRoom", map[string]any{
		"preset": "public_chat", "room_alias_name": "pub", "name": "Public", "visibility": "public",
	}, &created); code != 200 {
		t.Fatalf("createRoom: %d", code)
	}
	alias := "#pub:" + a.name

	// Queries B's client API answers through A.
	var profile map[string]string
	if err := b.hs.FederationClient.Request(context.Background(), a.name, "GET",
		"/_matrix/federation/v1/query/profile?"+url.Values{"user_id": {a.user}}.Encode(), nil, &profile); err != nil || profile["displayname"] != "Alice" {
		t.Errorf("query/profile: %v %v", profile, err)
	}
	var pub struct {
		Chunk []struct {
			RoomID string `json:"room_id"`
			Name   string `json:"name"`
		} `json:"chunk"`
	}
	if err := b.hs.FederationClient.Request(context.Background(), a.name, "GET", "/_matrix/federation/v1/publicRooms", nil, &pub); err != nil ||
		len(pub.Chunk) != 1 || pub.Chunk[0].RoomID != created.RoomID || pub.Chunk[0].Name != "Public" {
		t.Errorf("publicRooms: %+v %v", pub, err)
	}

	// The same through B's client API.
	var cprofile map[string]string
	if code := b.call("GET", "/_matrix/client/v3/profile/"+url.PathEscape(a.user), nil, &cprofile); code != 200 || cprofile["displayname"] != "Alice" {
		t.Errorf("client remote profile: %d %v", code, cprofile)
	}
	if code := b.call("GET", "/_matrix/client/v3/profile/"+url.PathEscape(a.user)+"/displayname", nil, &cprofile); code != 200 || cprofile["displayname"] != "Alice" {
		t.Errorf("client remote profile field: %d %v", code, cprofile)
	}
	if code := b.call("GET", "/_matrix/client/v3/profile/"+url.PathEscape("@nobody:"+a.name), nil, nil); code != 404 {
		t.Errorf("client remote profile of nobody: %d, want 404", code)
	}
	var cpub struct {
		Chunk []struct {
			RoomID string `json:"room_id"`
		} `json:"chunk"`
	}
	if code := b.call("GET", "/_matrix/client/v3/publicRooms?server="+url.QueryEscape(a.name), nil, &cpub); code != 200 || len(cpub.Chunk) != 1 || cpub.Chunk[0].RoomID != created.RoomID {
		t.Errorf("client publicRooms?server=: %d %+v", code, cpub)
	}
	if code := b.call("POST", "/_matrix/client/v3/publicRooms?server="+url.QueryEscape(a.name), map[string]any{"filter": map[string]string{"generic_search_term": "nomatch"}}, &cpub); code != 200 || len(cpub.Chunk) != 0 {
		t.Errorf("client publicRooms?server= with a search: %d %+v", code, cpub)
	}
	var dir struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	if code := b.call("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape(alias), nil, &dir); code != 200 || dir.RoomID != created.RoomID || !slices.Contains(dir.Servers, a.name) {
		t.Errorf("client remote alias: %d %+v", code, dir)
	}

	// bob joins by alias: B asks A's directory, then make_join and
	// send_join.
	var joined struct {
		RoomID string `json:"room_id"`
	}
	if code := b.call("POST", "/_matrix/client/v3/join/"+url.PathEscape(alias), map[string]any{}, &joined); code != 200 {
		t.Fatalf("remote join: %d", code)
	}
	if joined.RoomID != created.RoomID {
		t.Fatalf("joined %s, want %s", joined.RoomID, created.RoomID)
	}
	members := func(s *testHS) []string {
		var m struct {
			Joined map[string]any `json:"joined"`
		}
		if code := s.call("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(created.RoomID)+"/joined_members", nil, &m); code != 200 {
			t.Fatalf("joined_members on %s: %d", s.name, code)
		}
		var out []string
		for u := range m.Joined {
			out = append(out, u)
		}
		slices.Sort(out)
		return out
	}
	want := []string{a.user, b.user}
	slices.Sort(want)
	if got := members(a); !slices.Equal(got, want) {
		t.Errorf("members on A: %v, want %v", got, want)
	}
	if got := members(b); !slices.Equal(got, want) {
		t.Errorf("members on B: %v, want %v", got, want)
	}
	// A's directory now names both servers, A first.
	var qd struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	if err := b.hs.FederationClient.Request(context.Background(), a.name, "GET",
		"/_matrix/federation/v1/query/directory?"+url.Values{"room_alias": {alias}}.Encode(), nil, &qd); err != nil ||
		qd.RoomID != created.RoomID || len(qd.Servers) != 2 || qd.Servers[0] != a.name || qd.Servers[1] != b.name {
		t.Errorf("query/directory after the join: %+v %v", qd, err)
	}
	// A device list update of bob's from B reaches alice's /sync.
	var s1 struct {
		NextBatch string `json:"next_batch"`
	}
	if code := a.call("GET", "/_matrix/client/v3/sync", nil, &s1); code != 200 {
		t.Fatalf("sync: %d", code)
	}
	edu := map[string]any{"origin": b.name, "origin_server_ts": 1, "pdus": []any{}, "edus": []any{map[string]any{
		"edu_type": "m.device_list_update", "content": map[string]any{"user_id": b.user, "device_id": "NEW", "stream_id": 1, "deleted": false}}}}
	if err := b.hs.FederationClient.Request(context.Background(), a.name, "PUT", "/_matrix/federation/v1/send/dl1", edu, nil); err != nil {
		t.Fatalf("send the device list update: %v", err)
	}
	var s2 struct {
		DeviceLists struct {
			Changed []string `json:"changed"`
		} `json:"device_lists"`
	}
	if code := a.call("GET", "/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(s1.NextBatch), nil, &s2); code != 200 || !slices.Contains(s2.DeviceLists.Changed, b.user) {
		t.Errorf("alice's sync after bob's device list update: %d %v", code, s2.DeviceLists.Changed)
	}
	// bob's to-device message and new device keys reach alice through
	// B's sender: alice's /sync waits for them.
	if code := b.call("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", map[string]any{
		"messages": map[string]any{a.user: map[string]any{a.device: map[string]string{"hello": "alice"}}}}, nil); code != 200 {
		t.Fatalf("sendToDevice: %d", code)
	}
	since := s1.NextBatch
	var got struct {
		NextBatch string `json:"next_batch"`
		ToDevice  struct {
			Events []struct {
				Sender  string            `json:"sender"`
				Type    string            `json:"type"`
				Content map[string]string `json:"content"`
			} `json:"events"`
		} `json:"to_device"`
	}
	for i := 0; i < 5 && len(got.ToDevice.Events) == 0; i++ {
		if code := a.call("GET", "/_matrix/client/v3/sync?timeout=5000&since="+url.QueryEscape(since), nil, &got); code != 200 {
			t.Fatalf("sync: %d", code)
		}
		since = got.NextBatch
	}
	if len(got.ToDevice.Events) != 1 || got.ToDevice.Events[0].Sender != b.user || got.ToDevice.Events[0].Content["hello"] != "alice" {
		t.Errorf("alice's to-device events: %+v", got.ToDevice.Events)
	}
	// bob's new device keys: B tells A, and alice's /sync lists bob.
	if code := b.call("POST", "/_matrix/client/v3/keys/upload", map[string]any{"device_keys": map[string]any{
		"user_id": b.user, "device_id": b.device, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys":       map[string]string{"curve25519:" + b.device: "c", "ed25519:" + b.device: "e"},
		"signatures": map[string]any{b.user: map[string]string{"ed25519:" + b.device: "sig"}},
	}}, nil); code != 200 {
		t.Fatalf("keys/upload: %d", code)
	}
	var dl struct {
		NextBatch   string `json:"next_batch"`
		DeviceLists struct {
			Changed []string `json:"changed"`
		} `json:"device_lists"`
	}
	for i := 0; i < 5 && !slices.Contains(dl.DeviceLists.Changed, b.user); i++ {
		if code := a.call("GET", "/_matrix/client/v3/sync?timeout=5000&since="+url.QueryEscape(since), nil, &dl); code != 200 {
			t.Fatalf("sync: %d", code)
		}
		since = dl.NextBatch
	}
	if !slices.Contains(dl.DeviceLists.Changed, b.user) {
		t.Errorf("alice's sync after bob's key upload: %v", dl.DeviceLists.Changed)
	}
	// B has the room's state from the join: its name.
	var name struct {
		Name string `json:"name"`
	}
	if code := b.call("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(created.RoomID)+"/state/m.room.name/", nil, &name); code != 200 || name.Name != "Public" {
		t.Errorf("room name on B: %d %q", code, name.Name)
	}
	// make_join refusals, asked by B directly.
	var private struct {
		RoomID string `json:"room_id"`
	}
	if code := a.call("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat"}, &private); code != 200 {
		t.Fatalf("createRoom: %d", code)
	}
	makeJoin := func(roomID, userID, query string) error {
		return b.hs.FederationClient.Request(context.Background(), a.name, "GET",
			"/_matrix/federation/v1/make_join/"+url.PathEscape(roomID)+"/"+url.PathEscape(userID)+query, nil, nil)
	}
	for _, tt := range []struct {
		name, roomID, userID, query string
		status                      int
		errcode                     string
	}{
		{"invite-only room", private.RoomID, b.user, "?ver=1&ver=10&ver=11&ver=12", 403, "M_FORBIDDEN"},
		{"another server's user", created.RoomID, "@eve:evil.example", "?ver=10&ver=11&ver=12", 403, "M_FORBIDDEN"},
		{"unsupported version", created.RoomID, b.user, "?ver=1", 400, "M_INCOMPATIBLE_ROOM_VERSION"},
		{"unknown room", "!nothing:" + a.name, b.user, "?ver=11", 404, "M_NOT_FOUND"},
	} {
		var re *federation.RemoteError
		if err := makeJoin(tt.roomID, tt.userID, tt.query); !errors.As(err, &re) || re.Status != tt.status || re.ErrCode != tt.errcode {
			t.Errorf("make_join, %s: %v, want %d %s", tt.name, err, tt.status, tt.errcode)
		}
	}
	// A server ACL that denies B: make_join is refused to it.
	acl := map[string]any{"allow": []string{"*"}, "deny": []string{"127.0.0.2"}, "allow_ip_literals": true}
	if code := a.call("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(private.RoomID)+"/state/m.room.server_acl/", acl, nil); code != 200 {
		t.Fatalf("set the server ACL: %d", code)
	}
	if code := a.call("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(private.RoomID)+"/invite", map[string]any{"user_id": b.user}, nil); code != 200 {
		t.Fatalf("invite: %d", code)
	}
	{
		var re *federation.RemoteError
		if err := makeJoin(private.RoomID, b.user, "?ver=10&ver=11&ver=12"); !errors.As(err, &re) || re.Status != 403 || !strings.Contains(re.Message, "ACL") {
			t.Errorf("make_join from a server the ACL denies: %v, want 403 naming the ACL", err)
		}
	}
	// send_join of an event that is not the sending server's user's.
	var re *federation.RemoteError
	forged := map[string]any{"type": "m.room.member", "room_id": created.RoomID, "sender": "@eve:" + b.name, "state_key": "@eve:" + b.name,
		"content": map[string]any{"membership": "join"}, "depth": 5, "prev_events": []string{}, "auth_events": []string{}, "origin_server_ts": 1}
	if err := b.hs.FederationClient.Request(context.Background(), a.name, "PUT",
		"/_matrix/federation/v2/send_join/"+url.PathEscape(created.RoomID)+"/"+url.PathEscape("$x"), forged, nil); !errors.As(err, &re) || re.Status != 400 {
		t.Errorf("send_join of an unsigned event: %v, want 400", err)
	}

	// Joining a room A does not have fails cleanly.
	if code := b.call("POST", "/_matrix/client/v3/join/"+url.PathEscape("!nothing:"+a.name), map[string]any{}, nil); code != http.StatusNotFound && code != http.StatusForbidden {
		t.Errorf("joining an unknown remote room: %d", code)
	}
}

// TestRemoteInvite: alice on A invites bob on B; bob's /sync shows the
// invite with the room's stripped state; bob joins through A.
func TestRemoteInvite(t *testing.T) {
	ca := newTestCA(t)
	a := openTestHS(t, ca, "127.0.0.1", "alice")
	b := openTestHS(t, ca, "127.0.0.2", "bob")
	var created struct {
		RoomID string `json:"room_id"`
	}
	if code := a.call("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat", "name": "Secret"}, &created); code != 200 {
		t.Fatalf("createRoom: %d", code)
	}
	roomPath := "/_matrix/client/v3/rooms/" + url.PathEscape(created.RoomID)
	if code := a.call("POST", roomPath+"/invite", map[string]any{"user_id": b.user}, nil); code != 200 {
		t.Fatalf("invite: %d", code)
	}
	// A user B does not have: B refuses, A says so.
	if code := a.call("POST", roomPath+"/invite", map[string]any{"user_id": "@nobody:" + b.name}, nil); code != http.StatusForbidden {
		t.Errorf("invite of an unknown remote user: %d, want 403", code)
	}
	var sync struct {
		Rooms struct {
			Invite map[string]struct {
				InviteState struct {
					Events []struct {
						Type     string          `json:"type"`
						StateKey string          `json:"state_key"`
						Content  json.RawMessage `json:"content"`
					} `json:"events"`
				} `json:"invite_state"`
			} `json:"invite"`
		} `json:"rooms"`
	}
	if code := b.call("GET", "/_matrix/client/v3/sync", nil, &sync); code != 200 {
		t.Fatalf("sync: %d", code)
	}
	inv, ok := sync.Rooms.Invite[created.RoomID]
	if !ok {
		t.Fatalf("bob's sync has no invite to %s: %+v", created.RoomID, sync.Rooms.Invite)
	}
	var name, member bool
	for _, e := range inv.InviteState.Events {
		name = name || (e.Type == "m.room.name" && bytes.Contains(e.Content, []byte(`"Secret"`)))
		member = member || (e.Type == "m.room.member" && e.StateKey == b.user && bytes.Contains(e.Content, []byte(`"invite"`)))
	}
	if !name || !member {
		t.Errorf("invite_state lacks the room name or the invite: %+v", inv.InviteState.Events)
	}
	// On A the invite is part of the room, with B's signature.
	var m struct {
		Membership string `json:"membership"`
	}
	if code := a.call("GET", roomPath+"/state/m.room.member/"+url.PathEscape(b.user), nil, &m); code != 200 || m.Membership != "invite" {
		t.Errorf("bob's membership on A: %d %q", code, m.Membership)
	}
	if code := b.call("POST", roomPath+"/join", map[string]any{}, nil); code != 200 {
		t.Fatalf("join after the invite: %d", code)
	}
	if code := a.call("GET", roomPath+"/state/m.room.member/"+url.PathEscape(b.user), nil, &m); code != 200 || m.Membership != "join" {
		t.Errorf("bob's membership on A after joining: %d %q", code, m.Membership)
	}

	// A second invite, which bob rejects through A.
	var second struct {
		RoomID string `json:"room_id"`
	}
	if code := a.call("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat", "invite": []string{}}, &second); code != 200 {
		t.Fatalf("createRoom: %d", code)
	}
	secondPath := "/_matrix/client/v3/rooms/" + url.PathEscape(second.RoomID)
	if code := a.call("POST", secondPath+"/invite", map[string]any{"user_id": b.user}, nil); code != 200 {
		t.Fatalf("invite: %d", code)
	}
	if code := b.call("POST", secondPath+"/leave", map[string]any{"reason": "no thanks"}, nil); code != 200 {
		t.Fatalf("rejecting the invite: %d", code)
	}
	if code := a.call("GET", secondPath+"/state/m.room.member/"+url.PathEscape(b.user), nil, &m); code != 200 || m.Membership != "leave" {
		t.Errorf("bob's membership on A after rejecting: %d %q", code, m.Membership)
	}
	var sync2 struct {
		Rooms struct {
			Invite map[string]any `json:"invite"`
			Leave  map[string]any `json:"leave"`
		} `json:"rooms"`
	}
	if code := b.call("GET", "/_matrix/client/v3/sync", nil, &sync2); code != 200 {
		t.Fatalf("sync: %d", code)
	}
	if _, still := sync2.Rooms.Invite[second.RoomID]; still {
		t.Errorf("the rejected invite is still in bob's sync")
	}
	// Rejecting again: there is no invite any more.
	if code := b.call("POST", secondPath+"/leave", map[string]any{}, nil); code != http.StatusForbidden {
		t.Errorf("rejecting twice: %d, want 403", code)
	}
}

// TestRemoteKeys: alice on A fetches bob's device keys from B and claims
// one of his one-time keys, through A's client API.
func TestRemoteKeys(t *testing.T) {
	ca := newTestCA(t)
	a := openTestHS(t, ca, "127.0.0.1", "alice")
	b := openTestHS(t, ca, "127.0.0.2", "bob")
	deviceKeys := map[string]any{
		"user_id": b.user, "device_id": b.device, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys":       map[string]string{"curve25519:" + b.device: "curvekey", "ed25519:" + b.device: "edkey"},
		"signatures": map[string]any{b.user: map[string]string{"ed25519:" + b.device: "sig"}},
	}
	if code := b.call("POST", "/_matrix/client/v3/keys/upload", map[string]any{
		"device_keys":   deviceKeys,
		"one_time_keys": map[string]any{"signed_curve25519:AAAA": map[string]any{"key": "otk1", "signatures": map[string]any{b.user: map[string]string{"ed25519:" + b.device: "sig"}}}},
	}, nil); code != 200 {
		t.Fatalf("keys/upload: %d", code)
	}
	var q struct {
		DeviceKeys map[string]map[string]struct {
			UserID   string `json:"user_id"`
			DeviceID string `json:"device_id"`
		} `json:"device_keys"`
		Failures map[string]any `json:"failures"`
	}
	if code := a.call("POST", "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string][]string{b.user: {}, "@x:unreachable.invalid": {}}}, &q); code != 200 {
		t.Fatalf("keys/query: %d", code)
	}
	if got := q.DeviceKeys[b.user][b.device]; got.UserID != b.user || got.DeviceID != b.device {
		t.Errorf("bob's device keys through A: %+v", q.DeviceKeys)
	}
	if _, ok := q.Failures["unreachable.invalid"]; !ok || len(q.Failures) != 1 {
		t.Errorf("failures %v, want unreachable.invalid only", q.Failures)
	}
	var c struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	}
	if code := a.call("POST", "/_matrix/client/v3/keys/claim", map[string]any{"one_time_keys": map[string]any{b.user: map[string]string{b.device: "signed_curve25519"}}}, &c); code != 200 {
		t.Fatalf("keys/claim: %d", code)
	}
	if k := c.OneTimeKeys[b.user][b.device]["signed_curve25519:AAAA"]; !bytes.Contains(k, []byte("otk1")) {
		t.Errorf("claimed %v, want bob's one-time key", c.OneTimeKeys)
	}
	// The key was claimed once: a second claim gets nothing.
	c.OneTimeKeys = nil
	if code := a.call("POST", "/_matrix/client/v3/keys/claim", map[string]any{"one_time_keys": map[string]any{b.user: map[string]string{b.device: "signed_curve25519"}}}, &c); code != 200 || len(c.OneTimeKeys[b.user][b.device]) != 0 {
		t.Errorf("second claim: %d %v", code, c.OneTimeKeys)
	}
}

// TestRemoteMedia: bob on B downloads alice's upload on A, and a
// thumbnail of it, through B's client API and federation.
func TestRemoteMedia(t *testing.T) {
	ca := newTestCA(t)
	a := openTestHS(t, ca, "127.0.0.1", "alice")
	b := openTestHS(t, ca, "127.0.0.2", "bob")
	img := image.NewRGBA(image.Rect(0, 0, 1000, 800))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var png bytes.Buffer
	if err := pngenc.Encode(&png, img); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/_matrix/media/v3/upload?filename=pic.png", bytes.NewReader(png.Bytes()))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "image/png")
	rec := httptest.NewRecorder()
	a.hs.Handler.ServeHTTP(rec, req)
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &up); rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	mediaID := up.ContentURI[len("mxc://"+a.name+"/"):]
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+b.token)
		rec := httptest.NewRecorder()
		b.hs.Handler.ServeHTTP(rec, req)
		return rec
	}
	rec = get("/_matrix/client/v1/media/download/" + a.name + "/" + mediaID)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), png.Bytes()) || rec.Header().Get("Content-Type") != "image/png" {
		t.Errorf("remote download: %d %s, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	rec = get("/_matrix/client/v1/media/thumbnail/" + a.name + "/" + mediaID + "?width=32&height=32&method=scale")
	if rec.Code != 200 {
		t.Fatalf("remote thumbnail: %d %s", rec.Code, rec.Body)
	}
	thumb, _, err := image.Decode(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("remote thumbnail is not an image (%s): %v", rec.Header().Get("Content-Type"), err)
	}
	// The server picks its own size at or above the one asked for (a
	// bucket), but far below the original.
	if bnd := thumb.Bounds(); bnd.Dx() >= 500 || bnd.Dy() >= 400 || bnd.Dx() < 32 {
		t.Errorf("thumbnail is %v, want a thumbnail of the 1000x800 original", bnd)
	}
	if rec = get("/_matrix/client/v1/media/download/" + a.name + "/nosuchmedia"); rec.Code != 404 {
		t.Errorf("unknown remote media: %d %s", rec.Code, rec.Body)
	}
}
