package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/internal/hearthtest"
	"hearth.dev/hearth/services"
	"hearth.dev/hearth/storage"
)

// testServer is a whole Server on a fresh database, built from the
// service graph hearth.Open builds (internal/hearthtest), for handler
// tests. Build one with newTestServer.
type testServer struct {
	Server *Server
	// net serves Server on 127.0.0.1 (do and record go through it).
	net      *loopback
	Graph    *services.Graph
	DB       *storage.DB
	Accounts *storage.AccountStore
	Clock    *testClock
}

// testClock is a settable clock shared by the server and its stores.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testServerName is the server name of every testServer.
const testServerName = hearthtest.ServerName

// testPassword is the password of users made by registerTestUser.
const testPassword = hearthtest.Password

// newTestServer builds a Server for example.org on a fresh database through
// the production wiring (hearthtest.Open, then NewServer), with
// registration open, rate limits off and a settable clock. mods adjust the
// options before the server is built (settings, or a test double standing
// in for one service).
func newTestServer(tb testing.TB, mods ...func(*Options, *storage.DB)) *testServer {
	tb.Helper()
	clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	g := hearthtest.Open(tb, func(c *services.Config) { c.Client.Now = clock.Now })
	o := Options{Services: g.Client}
	for _, m := range mods {
		m(&o, g.DB)
	}
	ts := &testServer{Server: mustNewServer(tb, o), Graph: g, DB: g.DB, Accounts: g.Accounts, Clock: clock}
	ts.net = newLoopback(tb, func() http.Handler { return ts.Server })
	return ts
}

// mustNewServer is NewServer that fails the test on an error.
func mustNewServer(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := NewServer(o)
	if err != nil {
		tb.Fatalf("NewServer: %v", err)
	}
	return s
}

// testUser is a registered user with one logged-in device.
type testUser struct {
	UserID      string
	DeviceID    string
	AccessToken string
}

// registerTestUser creates the account @localpart:example.org with password
// testPassword (straight through the store, so it works whatever the
// registration mode) and logs in a new device.
func (ts *testServer) registerTestUser(tb testing.TB, localpart string) testUser {
	tb.Helper()
	ctx := context.Background()
	userID := "@" + localpart + ":" + testServerName
	if _, err := ts.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: testPassword}); err != nil {
		tb.Fatalf("creating %s: %v", userID, err)
	}
	tok, err := ts.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		tb.Fatalf("logging in %s: %v", userID, err)
	}
	return testUser{UserID: userID, DeviceID: tok.DeviceID, AccessToken: tok.AccessToken}
}

// registerTestAdmin is registerTestUser for a server admin.
func (ts *testServer) registerTestAdmin(tb testing.TB, localpart string) testUser {
	tb.Helper()
	u := ts.registerTestUser(tb, localpart)
	if err := ts.Accounts.SetAdmin(context.Background(), u.UserID, true); err != nil {
		tb.Fatal(err)
	}
	return u
}

// do sends a request to the server: token (if not empty) as a bearer
// token, body as JSON (a string or []byte is sent as it is, nil sends no
// body). It returns the status and the decoded JSON object of the answer
// (nil if the answer is not a JSON object).
func (ts *testServer) do(tb testing.TB, method, path, token string, body any) (int, map[string]any) {
	tb.Helper()
	rec := ts.record(tb, method, path, token, body)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		out = nil
	}
	return rec.Code, out
}

// record is do that returns the whole recorded answer.
func (ts *testServer) record(tb testing.TB, method, path, token string, body any) *httptest.ResponseRecorder {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return ts.net.do(tb, req)
}

// wantError checks a Matrix error answer.
func wantError(tb testing.TB, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	tb.Helper()
	if status != wantStatus || body["errcode"] != wantCode {
		tb.Errorf("%s: got %d %v, want %d %s", what, status, body, wantStatus, wantCode)
	}
}

// wantOK checks a 200 answer.
func wantOK(tb testing.TB, what string, status int, body map[string]any) {
	tb.Helper()
	if status != http.StatusOK {
		tb.Fatalf("%s: got %d %v, want 200", what, status, body)
	}
}

func TestWhoami(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	status, body := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", alice.AccessToken, nil)
	wantOK(t, "whoami", status, body)
	want := map[string]any{"user_id": alice.UserID, "device_id": alice.DeviceID, "is_guest": false}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("whoami %s = %v, want %v", k, body[k], v)
		}
	}
	// The r0 path is served too.
	if status, _ := ts.do(t, "GET", "/_matrix/client/r0/account/whoami", alice.AccessToken, nil); status != http.StatusOK {
		t.Errorf("r0 whoami: %d", status)
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", "", nil)
	wantError(t, "whoami without token", status, body, 401, "M_MISSING_TOKEN")
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", "hat_wrong", nil)
	wantError(t, "whoami with an unknown token", status, body, 401, "M_UNKNOWN_TOKEN")
}

func TestWhoamiRecordsDeviceLastSeen(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	ts.do(t, "GET", "/_matrix/client/v3/account/whoami", alice.AccessToken, nil)
	d, err := ts.Accounts.Device(context.Background(), alice.UserID, alice.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if d.LastSeenIP != "127.0.0.1" || !d.LastSeen.Equal(ts.Clock.Now()) {
		t.Errorf("device after a request: last seen %v from %q; want now from 127.0.0.1", d.LastSeen, d.LastSeenIP)
	}
}

func TestChangePassword(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	other := ts.login(t, "alice", testPassword, "")
	const path = "/_matrix/client/v3/account/password"

	status, body := ts.do(t, "POST", path, alice.AccessToken, `{"new_password":`)
	wantError(t, "bad JSON", status, body, 400, "M_NOT_JSON")
	status, body = ts.do(t, "POST", path, alice.AccessToken, `{"new_password": 5}`)
	wantError(t, "wrong type", status, body, 400, "M_BAD_JSON")
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{})
	wantError(t, "no new_password", status, body, 400, "M_MISSING_PARAM")
	status, body = ts.do(t, "POST", path, "hat_wrong", map[string]any{"new_password": "x"})
	wantError(t, "unknown token", status, body, 401, "M_UNKNOWN_TOKEN")

	// First step: the flows.
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"new_password": "new pass"})
	if status != 401 || body["session"] == nil || body["errcode"] != nil {
		t.Fatalf("no auth: got %d %v, want a 401 challenge", status, body)
	}
	session := body["session"].(string)
	if got := flowsOf(body); len(got) != 1 || got[0] != authPassword {
		t.Errorf("flows = %v, want [[m.login.password]]", got)
	}
	// Wrong password: 401 with the flows and M_FORBIDDEN.
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"new_password": "new pass",
		"auth": passwordAuth(session, alice.UserID, "wrong")})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" || body["flows"] == nil || body["session"] != session {
		t.Errorf("wrong password: got %d %v, want 401 M_FORBIDDEN with flows and the same session", status, body)
	}
	// Authenticating as someone else is refused.
	ts.registerTestUser(t, "bob")
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"new_password": "new pass",
		"auth": passwordAuth(session, "@bob:example.org", testPassword)})
	if status != 403 || body["errcode"] != "M_FORBIDDEN" || body["flows"] != nil {
		t.Errorf("password of another user: got %d %v, want 403 M_FORBIDDEN", status, body)
	}
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"new_password": "new pass",
		"auth": passwordAuth(session, "alice", testPassword)})
	wantOK(t, "change password", status, body)

	if status, body := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", alice.AccessToken, nil); status != 200 {
		t.Errorf("the requesting token after a password change: %d %v, want it kept", status, body)
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", other.AccessToken, nil)
	wantError(t, "other device after a password change", status, body, 401, "M_UNKNOWN_TOKEN")
	if err := ts.Accounts.CheckPassword(context.Background(), alice.UserID, "new pass"); err != nil {
		t.Errorf("new password: %v", err)
	}

	// logout_devices false keeps the other devices.
	third := ts.login(t, "alice", "new pass", "")
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"new_password": "third", "logout_devices": false,
		"auth": passwordAuth("", alice.UserID, "new pass")})
	wantOK(t, "change password keeping devices", status, body)
	if status, _ := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", third.AccessToken, nil); status != 200 {
		t.Errorf("other device with logout_devices false: %d, want kept", status)
	}
}

func TestChangePasswordWithoutAccessToken(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	status, body := ts.do(t, "POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "fresh",
		"auth": passwordAuth("", "alice", testPassword)})
	wantOK(t, "password change identified by the auth", status, body)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", alice.AccessToken, nil)
	wantError(t, "all devices after a password change without token", status, body, 401, "M_UNKNOWN_TOKEN")
}

func TestDeactivate(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	const path = "/_matrix/client/v3/account/deactivate"
	status, body := ts.do(t, "POST", path, alice.AccessToken, "nonsense")
	wantError(t, "bad JSON", status, body, 400, "M_NOT_JSON")
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": map[string]any{"type": authDummy}})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("dummy auth on deactivate: got %d %v, want 401 M_FORBIDDEN", status, body)
	}
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", "wrong")})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("wrong password: got %d %v, want 401 M_FORBIDDEN", status, body)
	}
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", testPassword)})
	wantOK(t, "deactivate", status, body)
	if body["id_server_unbind_result"] != "success" {
		t.Errorf("id_server_unbind_result = %v, want success", body["id_server_unbind_result"])
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", alice.AccessToken, nil)
	wantError(t, "token after deactivation", status, body, 401, "M_UNKNOWN_TOKEN")
	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", testPassword))
	wantError(t, "login after deactivation", status, body, 403, "M_USER_DEACTIVATED")
	// The password is checked first: a wrong one does not learn that the
	// account exists and is deactivated.
	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "a guess"))
	wantError(t, "login after deactivation with a wrong password", status, body, 403, "M_FORBIDDEN")
	if msg, _ := body["error"].(string); strings.Contains(strings.ToLower(msg), "deactivated") {
		t.Errorf("a wrong password was told %q", msg)
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/register/available?username=alice", "", nil)
	wantError(t, "deactivated name", status, body, 400, "M_USER_IN_USE")
}

func TestDeactivateLeavesRooms(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	bob := ts.registerTestUser(t, "bob")
	status, body := ts.do(t, "POST", "/_matrix/client/v3/createRoom", alice.AccessToken, map[string]any{"preset": "public_chat"})
	wantOK(t, "createRoom", status, body)
	roomID := body["room_id"].(string)
	status, body = ts.do(t, "POST", "/_matrix/client/v3/join/"+roomID, bob.AccessToken, map[string]any{})
	wantOK(t, "join", status, body)
	status, body = ts.do(t, "POST", "/_matrix/client/v3/account/deactivate", bob.AccessToken,
		map[string]any{"auth": passwordAuth("", "bob", testPassword)})
	wantOK(t, "deactivate", status, body)
	rooms := ts.Server.opts.Rooms
	if joined, err := rooms.JoinedRooms(context.Background(), bob.UserID); err != nil || len(joined) != 0 {
		t.Errorf("deactivated user's rooms = %v, %v; want none", joined, err)
	}
	if joined, _ := rooms.JoinedRooms(context.Background(), alice.UserID); len(joined) != 1 {
		t.Errorf("alice's rooms = %v", joined)
	}
}

// flowsOf returns the first stage of each flow of a 401 challenge.
func flowsOf(body map[string]any) []string {
	var out []string
	flows, _ := body["flows"].([]any)
	for _, f := range flows {
		stages, _ := f.(map[string]any)["stages"].([]any)
		for _, st := range stages {
			out = append(out, st.(string))
		}
	}
	return out
}

// passwordAuth is an m.login.password auth dict.
func passwordAuth(session, user, password string) map[string]any {
	a := map[string]any{
		"type":       authPassword,
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	}
	if session != "" {
		a["session"] = session
	}
	return a
}

// FuzzAccountBodies: whatever the body, the account endpoints answer a
// Matrix JSON object and never fail with a 5xx.
func FuzzAccountBodies(f *testing.F) {
	f.Add(`{"type":"m.login.password","identifier":{"type":"m.id.user","user":"alice"},"password":"x"}`)
	f.Add(`{"username":"bob","password":"pw","auth":{"type":"m.login.dummy","session":"s"}}`)
	f.Add(`{"auth":{"type":"m.login.registration_token","token":"\u0000"}}`)
	f.Add(`{"new_password":"n","auth":{"type":"m.login.password","user":"@alice:example.org","password":"correct horse battery staple"}}`)
	f.Add(`{"devices":["A",null],"auth":{}}`)
	f.Add(`[1,2,3]`)
	ts := newTestServer(f)
	alice := ts.registerTestUser(f, "alice")
	paths := []struct{ method, path, token string }{
		{"POST", "/_matrix/client/v3/login", ""},
		{"POST", "/_matrix/client/v3/register", ""},
		{"POST", "/_matrix/client/v3/refresh", ""},
		{"POST", "/_matrix/client/v3/account/password", alice.AccessToken},
		{"POST", "/_matrix/client/v3/delete_devices", alice.AccessToken},
		{"PUT", "/_matrix/client/v3/devices/X", alice.AccessToken},
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range paths {
			rec := ts.record(t, p.method, p.path, p.token, body)
			var out map[string]any
			if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
				t.Fatalf("%s %s with %q: %d %s", p.method, p.path, body, rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkWhoami measures an authenticated request end to end: token
// lookup (cached), last-seen throttle, handler, JSON answer.
func BenchmarkWhoami(b *testing.B) {
	ts := newTestServer(b)
	alice := ts.registerTestUser(b, "alice")
	req := httptest.NewRequest("GET", "/_matrix/client/v3/account/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		ts.Server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("whoami: %d %s", rec.Code, rec.Body)
		}
	}
}
