package web

import (
	"fmt"
	"net/url"
	"testing"

	"hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/storage"
)

// testBridge is the application service the tests register: users
// @_irc_*, exclusive; aliases #_irc_*, exclusive; as_token "irc-as".
const testBridgeToken = "irc-as"

func testAppServices(tb testing.TB, rateLimited bool) *appservice.Set {
	tb.Helper()
	rl := rateLimited
	set, err := appservice.NewSet(testServerName, []*appservice.Registration{{
		File: "irc.yaml", ID: "irc", URL: "http://127.0.0.1:9/", ASToken: testBridgeToken, HSToken: "irc-hs",
		SenderLocalpart: "ircbot", RateLimited: &rl,
		Namespaces: appservice.Namespaces{
			Users:   []appservice.Namespace{{Exclusive: true, Regex: `@_irc_.*:example\.org`}, {Regex: `@shared_.*:example\.org`}},
			Aliases: []appservice.Namespace{{Exclusive: true, Regex: `#_irc_.*:example\.org`}},
		},
	}, {
		File: "other.yaml", ID: "other", ASToken: "other-as", HSToken: "other-hs", SenderLocalpart: "otherbot",
		Namespaces: appservice.Namespaces{Users: []appservice.Namespace{{Regex: `@_irc_.*:example\.org`}, {Regex: `@shared_.*:example\.org`}}},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

func withAppServices(tb testing.TB, rateLimited bool) func(*Options, *storage.DB) {
	set := testAppServices(tb, rateLimited)
	return func(o *Options, _ *storage.DB) { o.AppServices = set }
}

func newAppServiceServer(t *testing.T) *testServer {
	t.Helper()
	set := testAppServices(t, false)
	return newTestServer(t, func(o *Options, _ *storage.DB) { o.AppServices = set })
}

func asRegister(t *testing.T, ts *testServer, token, username string, extra map[string]any) (int, map[string]any) {
	t.Helper()
	body := map[string]any{"type": "m.login.application_service", "username": username, "inhibit_login": true}
	for k, v := range extra {
		body[k] = v
	}
	return ts.do(t, "POST", registerPath, token, body)
}

func registerGhost(t *testing.T, ts *testServer, localpart string) {
	t.Helper()
	status, body := asRegister(t, ts, testBridgeToken, localpart, nil)
	wantOK(t, "register ghost "+localpart, status, body)
}

func TestAppServiceRegistersUsersInItsNamespace(t *testing.T) {
	ts := newAppServiceServer(t)
	status, body := asRegister(t, ts, testBridgeToken, "_irc_alice", nil)
	wantOK(t, "register ghost", status, body)
	if body["user_id"] != "@_irc_alice:example.org" || body["access_token"] != nil {
		t.Errorf("register answer %v, want the ghost without tokens (inhibit_login)", body)
	}
	status, body = asRegister(t, ts, testBridgeToken, "_irc_bob", map[string]any{"inhibit_login": false})
	wantOK(t, "register ghost with login", status, body)
	if body["access_token"] == nil {
		t.Errorf("register answer %v, want an access token", body)
	}
	status, body = asRegister(t, ts, testBridgeToken, "_irc_alice", nil)
	wantError(t, "register a taken ghost", status, body, 400, "M_USER_IN_USE")
	status, body = asRegister(t, ts, testBridgeToken, "carol", nil)
	wantError(t, "register outside the namespace", status, body, 400, "M_EXCLUSIVE")
	status, body = asRegister(t, ts, "", "_irc_carol", nil)
	wantError(t, "register without a token", status, body, 401, "M_MISSING_TOKEN")
	status, body = asRegister(t, ts, "not-a-token", "_irc_carol", nil)
	wantError(t, "register with an unknown token", status, body, 401, "M_UNKNOWN_TOKEN")
	// The other service's namespace also covers @_irc_*, but irc holds it
	// exclusively.
	status, body = asRegister(t, ts, "other-as", "_irc_carol", nil)
	wantError(t, "register in another service's exclusive namespace", status, body, 400, "M_EXCLUSIVE")
	status, body = asRegister(t, ts, "other-as", "shared_carol", nil)
	wantOK(t, "register in a shared namespace", status, body)
}

func TestUsersCannotRegisterInExclusiveNamespace(t *testing.T) {
	ts := newAppServiceServer(t)
	ts.registerTestUser(t, "owner")
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{
		"username": "_irc_mallory", "password": "pw", "auth": map[string]any{"type": authDummy}})
	wantError(t, "user registers @_irc_mallory", status, body, 400, "M_EXCLUSIVE")
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{
		"username": "shared_dave", "password": "pw", "auth": map[string]any{"type": authDummy}})
	wantOK(t, "user registers in a namespace no one holds exclusively", status, body)
}

func TestAppServiceIdentityAssertion(t *testing.T) {
	ts := newAppServiceServer(t)
	owner := ts.registerTestUser(t, "owner")
	registerGhost(t, ts, "_irc_alice")
	status, body := asRegister(t, ts, testBridgeToken, "_irc_bob", map[string]any{"inhibit_login": false, "device_id": "BOBPHONE"})
	wantOK(t, "register ghost with a device", status, body)

	whoami := func(query string) (int, map[string]any) {
		return ts.do(t, "GET", "/_matrix/client/v3/account/whoami"+query, testBridgeToken, nil)
	}
	status, body = whoami("")
	wantOK(t, "whoami as the sender", status, body)
	if body["user_id"] != "@ircbot:example.org" {
		t.Errorf("whoami without user_id = %v, want the sender @ircbot", body)
	}
	status, body = whoami("?user_id=" + url.QueryEscape("@_irc_alice:example.org"))
	wantOK(t, "whoami as a ghost", status, body)
	if body["user_id"] != "@_irc_alice:example.org" || body["device_id"] != nil {
		t.Errorf("whoami as ghost = %v", body)
	}
	status, body = whoami("?user_id=" + url.QueryEscape("@_irc_bob:example.org") + "&device_id=BOBPHONE")
	wantOK(t, "whoami as a ghost's device", status, body)
	if body["device_id"] != "BOBPHONE" {
		t.Errorf("whoami with device_id = %v", body)
	}
	status, body = whoami("?user_id=" + url.QueryEscape("@_irc_bob:example.org") + "&device_id=NOPE")
	wantError(t, "unknown device", status, body, 400, "M_UNKNOWN_DEVICE")
	status, body = whoami("?user_id=" + url.QueryEscape(owner.UserID))
	wantError(t, "acting as a user outside the namespace", status, body, 403, "M_FORBIDDEN")
	status, body = whoami("?user_id=" + url.QueryEscape("@_irc_nobody:example.org"))
	wantError(t, "acting as an unregistered ghost", status, body, 403, "M_FORBIDDEN")
	// An ordinary token ignores user_id.
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami?user_id="+url.QueryEscape("@_irc_alice:example.org"), owner.AccessToken, nil)
	wantOK(t, "whoami of a user with user_id", status, body)
	if body["user_id"] != owner.UserID {
		t.Errorf("a user's whoami with user_id = %v, want %s", body, owner.UserID)
	}
}

func TestAppServiceLogin(t *testing.T) {
	ts := newAppServiceServer(t)
	owner := ts.registerTestUser(t, "owner")
	registerGhost(t, ts, "_irc_alice")
	login := func(token, user string) (int, map[string]any) {
		return ts.do(t, "POST", "/_matrix/client/v3/login", token, map[string]any{
			"type": "m.login.application_service", "identifier": map[string]any{"type": "m.id.user", "user": user}})
	}
	status, body := login(testBridgeToken, "_irc_alice")
	wantOK(t, "login as ghost", status, body)
	tok, _ := body["access_token"].(string)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil)
	wantOK(t, "whoami with the ghost's token", status, body)
	if body["user_id"] != "@_irc_alice:example.org" {
		t.Errorf("whoami = %v", body)
	}
	status, body = login(testBridgeToken, owner.UserID)
	wantError(t, "login outside the namespace", status, body, 400, "M_EXCLUSIVE")
	status, body = login(testBridgeToken, "_irc_nobody")
	wantError(t, "login as an unregistered ghost", status, body, 403, "M_FORBIDDEN")
	status, body = login("", "_irc_alice")
	wantError(t, "login without a token", status, body, 401, "M_MISSING_TOKEN")
	status, body = login(owner.AccessToken, "_irc_alice")
	wantError(t, "login with a user's token", status, body, 401, "M_UNKNOWN_TOKEN")
	status, body = ts.do(t, "GET", "/_matrix/client/v3/login", "", nil)
	wantOK(t, "login flows", status, body)
	if fmt.Sprint(body["flows"]) == "" || !containsFlow(body, "m.login.application_service") {
		t.Errorf("login flows %v lack m.login.application_service", body["flows"])
	}
}

func containsFlow(body map[string]any, typ string) bool {
	flows, _ := body["flows"].([]any)
	for _, f := range flows {
		if m, _ := f.(map[string]any); m["type"] == typ {
			return true
		}
	}
	return false
}

func TestAppServiceTimestampMassaging(t *testing.T) {
	ts := newAppServiceServer(t)
	registerGhost(t, ts, "_irc_alice")
	ghost := "?user_id=" + url.QueryEscape("@_irc_alice:example.org")
	status, body := ts.do(t, "POST", "/_matrix/client/v3/createRoom"+ghost, testBridgeToken, map[string]any{})
	wantOK(t, "ghost creates a room", status, body)
	roomID := body["room_id"].(string)
	base := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
	status, body = ts.do(t, "PUT", base+"/send/m.room.message/t1"+ghost+"&ts=1234567890123", testBridgeToken, map[string]any{"body": "old"})
	wantOK(t, "send with ts", status, body)
	evID := body["event_id"].(string)
	status, body = ts.do(t, "GET", base+"/event/"+url.PathEscape(evID)+ghost, testBridgeToken, nil)
	wantOK(t, "read the event", status, body)
	if ts, _ := body["origin_server_ts"].(float64); ts != 1234567890123 {
		t.Errorf("origin_server_ts = %v, want 1234567890123", body["origin_server_ts"])
	}
	status, body = ts.do(t, "PUT", base+"/state/m.room.topic/"+ghost+"&ts=1111", testBridgeToken, map[string]any{"topic": "t"})
	wantOK(t, "state with ts", status, body)
	status, body = ts.do(t, "GET", base+"/event/"+url.PathEscape(body["event_id"].(string))+ghost, testBridgeToken, nil)
	if ts, _ := body["origin_server_ts"].(float64); status != 200 || ts != 1111 {
		t.Errorf("state origin_server_ts = %d %v, want 1111", status, body)
	}
	for _, bad := range []string{"-5", "abc", "9007199254740993"} {
		status, body = ts.do(t, "PUT", base+"/send/m.room.message/b"+bad+ghost+"&ts="+bad, testBridgeToken, map[string]any{"body": "x"})
		wantError(t, "ts="+bad, status, body, 400, "M_INVALID_PARAM")
	}
	// A user's ts is not theirs to set.
	owner := ts.registerTestUser(t, "owner")
	status, body = ts.do(t, "POST", "/_matrix/client/v3/createRoom", owner.AccessToken, map[string]any{})
	wantOK(t, "owner creates a room", status, body)
	ownBase := "/_matrix/client/v3/rooms/" + url.PathEscape(body["room_id"].(string))
	status, body = ts.do(t, "PUT", ownBase+"/send/m.room.message/u1?ts=1234", owner.AccessToken, map[string]any{"body": "now"})
	wantOK(t, "user send with ts", status, body)
	status, body = ts.do(t, "GET", ownBase+"/event/"+url.PathEscape(body["event_id"].(string)), owner.AccessToken, nil)
	if got, _ := body["origin_server_ts"].(float64); status != 200 || got == 1234 {
		t.Errorf("a user's ts was honoured: %d %v", status, body)
	}
}

func TestAppServiceAliasNamespaces(t *testing.T) {
	ts := newAppServiceServer(t)
	owner := ts.registerTestUser(t, "owner")
	status, body := ts.do(t, "POST", "/_matrix/client/v3/createRoom", owner.AccessToken, map[string]any{})
	wantOK(t, "create room", status, body)
	roomID := body["room_id"].(string)
	put := func(alias, token string) (int, map[string]any) {
		return ts.do(t, "PUT", "/_matrix/client/v3/directory/room/"+url.PathEscape(alias), token, map[string]any{"room_id": roomID})
	}
	status, body = put("#_irc_chan:example.org", owner.AccessToken)
	wantError(t, "user takes an exclusive alias", status, body, 400, "M_EXCLUSIVE")
	status, body = put("#plain:example.org", testBridgeToken)
	wantError(t, "service takes an alias outside its namespace", status, body, 400, "M_EXCLUSIVE")
	// The sender must be in the room to alias it (power levels apply).
	status, body = ts.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/invite", owner.AccessToken, map[string]any{"user_id": "@ircbot:example.org"})
	wantOK(t, "invite the bridge", status, body)
	status, body = ts.do(t, "POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/join", testBridgeToken, map[string]any{})
	wantOK(t, "the bridge's sender joins", status, body)
	status, body = put("#_irc_chan:example.org", testBridgeToken)
	wantOK(t, "service takes an alias in its namespace", status, body)
	status, body = put("#plain:example.org", owner.AccessToken)
	wantOK(t, "user takes an ordinary alias", status, body)
}

func TestAppServiceRateLimits(t *testing.T) {
	for _, limited := range []bool{false, true} {
		t.Run(fmt.Sprintf("rate_limited=%v", limited), func(t *testing.T) {
			ts := newTestServer(t, withRateLimits, withAppServices(t, limited))
			limitedAt := -1
			for i := range 10 {
				status, body := asRegister(t, ts, testBridgeToken, fmt.Sprintf("_irc_u%d", i), nil)
				if status == 429 {
					limitedAt = i
					break
				}
				wantOK(t, "register ghost", status, body)
			}
			if limited && limitedAt < 0 {
				t.Error("a rate_limited service registered 10 users without M_LIMIT_EXCEEDED")
			}
			if !limited && limitedAt >= 0 {
				t.Errorf("a service without rate_limited was limited at registration %d", limitedAt)
			}
		})
	}
}
