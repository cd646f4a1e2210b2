package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/modules/moduletest"
)

// moduleClient talks to a homeserver over real HTTP on 127.0.0.1.
type moduleClient struct {
	t    *testing.T
	base string
}

// callTB does one request with a raw body and returns the status and the
// JSON answer.
func (c moduleClient) callTB(tb testing.TB, method, path, token string, body []byte) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// call does one request and returns the status and the JSON answer.
func (c moduleClient) call(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	return c.callTB(c.t, method, path, token, b)
}

// ok is call that wants a 200.
func (c moduleClient) ok(method, path, token string, body any) map[string]any {
	c.t.Helper()
	code, out := c.call(method, path, token, body)
	if code != 200 {
		c.t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

// openWithModules opens a homeserver with mods, served over HTTP.
func openWithModules(t *testing.T, mods ...ModuleConfig) (*Homeserver, moduleClient) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Modules = mods
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	return hs, moduleClient{t: t, base: srv.URL}
}

// serveHomeserver opens a homeserver on cfg, served over HTTP until the
// test ends; the caller closes the homeserver.
func serveHomeserver(t *testing.T, cfg Config) (*Homeserver, moduleClient) {
	t.Helper()
	hs, err := Open(context.Background(), cfg, OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	return hs, moduleClient{t: t, base: srv.URL}
}

// publicRoom makes a public room of owner's (an access token), which each
// of joiners joins, and returns its ID.
func (c moduleClient) publicRoom(owner string, joiners ...string) string {
	c.t.Helper()
	room := c.ok("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	for _, j := range joiners {
		c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(room), j, map[string]any{})
	}
	return room
}

// moduleUser makes a local account and returns its access token.
func moduleUser(t *testing.T, hs *Homeserver, localpart string, admin bool) string {
	t.Helper()
	return moduleUserAdmin(t, hs, localpart, admin)
}

// moduleUserTB makes a local admin account for a benchmark.
func moduleUserTB(tb testing.TB, hs *Homeserver, localpart string) string {
	tb.Helper()
	return moduleUserAdmin(tb, hs, localpart, true)
}

func moduleUserAdmin(t testing.TB, hs *Homeserver, localpart string, admin bool) string {
	t.Helper()
	ctx := context.Background()
	userID := "@" + localpart + ":" + hs.ServerName
	if _, err := hs.services.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password", Admin: admin}); err != nil {
		t.Fatal(err)
	}
	tok, err := hs.services.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// bodies are the bodies of the m.room.message events /messages returns.
func (c moduleClient) bodies(roomID, token string) []string {
	c.t.Helper()
	out := c.ok("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=100", token, nil)
	var got []string
	for _, ev := range out["chunk"].([]any) {
		ev := ev.(map[string]any)
		if ev["type"] == "m.room.message" {
			got = append(got, ev["content"].(map[string]any)["body"].(string))
		}
	}
	return got
}

func sendPath(roomID, txn string) string {
	return "/_matrix/client/v3/rooms/" + url.PathEscape(roomID) + "/send/m.room.message/" + txn
}

// TestModulesThroughOpen runs the example modules through the real wiring:
// the keyword filter refuses a message with its word (403, not stored),
// the invite policy refuses an invite from a blocked user and accepts one
// from a trusted user, and the admin API lists both with their counts.
func TestModulesThroughOpen(t *testing.T) {
	hs, c := openWithModules(t,
		ModuleConfig{Path: moduletest.Build(t, "hearth.dev/hearth/examples/modules/keyword-filter"),
			Config: map[string]any{"words": []any{"casino"}}},
		ModuleConfig{Path: moduletest.Build(t, "hearth.dev/hearth/examples/modules/invite-policy"),
			Config: map[string]any{"reject_users": []any{"@pest:localhost"}, "accept_users": []any{"@friend:localhost"}}},
	)
	owner := moduleUser(t, hs, "owner", true)
	pest := moduleUser(t, hs, "pest", false)
	friend := moduleUser(t, hs, "friend", false)

	room := c.ok("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{})["room_id"].(string)
	c.ok("PUT", sendPath(room, "t1"), owner, map[string]any{"msgtype": "m.text", "body": "good morning"})
	code, out := c.call("PUT", sendPath(room, "t2"), owner, map[string]any{"msgtype": "m.text", "body": "Best CASINO in town"})
	if code != 403 || out["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("send of a filtered word: %d %v, want 403 M_FORBIDDEN", code, out)
	}
	c.ok("PUT", sendPath(room, "t3"), owner, map[string]any{"msgtype": "m.text", "body": "good night"})
	if got := c.bodies(room, owner); strings.Join(got, "|") != "good night|good morning" {
		t.Fatalf("room's messages = %q, want the two clean ones only", got)
	}

	// An invite from a blocked user is refused; the owner is not invited.
	pestRoom := c.ok("POST", "/_matrix/client/v3/createRoom", pest, map[string]any{})["room_id"].(string)
	code, out = c.call("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(pestRoom)+"/invite", pest, map[string]any{"user_id": "@owner:localhost"})
	if code != 403 || out["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("invite from a blocked user: %d %v, want 403 M_FORBIDDEN", code, out)
	}
	m, err := hs.services.Events.Membership(context.Background(), pestRoom, "@owner:localhost")
	if err == nil {
		t.Fatalf("the owner has membership %q in the blocked user's room", m.Membership)
	}

	// An invite from a trusted user is accepted at once.
	friendRoom := c.ok("POST", "/_matrix/client/v3/createRoom", friend, map[string]any{})["room_id"].(string)
	c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(friendRoom)+"/invite", friend, map[string]any{"user_id": "@owner:localhost"})
	joined := c.ok("GET", "/_matrix/client/v3/joined_rooms", owner, nil)["joined_rooms"].([]any)
	if len(joined) != 2 || (joined[0] != friendRoom && joined[1] != friendRoom) {
		t.Fatalf("owner's joined rooms = %v, want the own room and %s", joined, friendRoom)
	}

	// The admin API lists the modules with their counts; others may not
	// see it.
	if code, _ := c.call("GET", "/_hearth/admin/v1/modules", pest, nil); code != 403 {
		t.Fatalf("modules list for a non-admin: %d, want 403", code)
	}
	list := c.ok("GET", "/_hearth/admin/v1/modules", owner, nil)["modules"].([]any)
	if len(list) != 2 {
		t.Fatalf("modules = %v, want 2", list)
	}
	kf, ip := list[0].(map[string]any), list[1].(map[string]any)
	if kf["name"] != "keyword-filter" || ip["name"] != "invite-policy" {
		t.Fatalf("module names = %v, %v", kf["name"], ip["name"])
	}
	// Every message sent went through the filter (memberships go to
	// user_may_invite and user_may_join_room; room creation's own events
	// are built together and not asked about, as in Synapse).
	if calls := kf["calls"].(float64); calls != 3 || kf["failures"].(float64) != 0 || kf["p99_call_us"].(float64) <= 0 {
		t.Fatalf("keyword-filter counts = %v", kf)
	}
	if by := ip["calls_by_callback"].(map[string]any); by["user_may_invite"] != 2.0 {
		t.Fatalf("invite-policy calls = %v, want 2 user_may_invite", by)
	}
}

// TestModuleLimitsThroughOpen: a module that loops forever is cancelled at
// its time cap, one that allocates past its memory cap traps; the send is
// refused (on_error deny), nothing is stored, the failure is counted, and
// the server goes on answering, the module too.
func TestModuleLimitsThroughOpen(t *testing.T) {
	for _, m := range []ModuleConfig{
		// The cap also bounds the module's start at Open and the fresh
		// instance after the cancelled call (the Go runtime's start inside
		// the module): on a busy machine a start ran past 200 ms.
		{Path: moduletest.Build(t, "hearth.dev/hearth/modules/testdata/loop"), Timeout: "1s"},
		{Path: moduletest.Build(t, "hearth.dev/hearth/modules/testdata/alloc"), MemoryPages: 512},
	} {
		t.Run(filepath.Base(m.Path), func(t *testing.T) {
			hs, c := openWithModules(t, m)
			owner := moduleUser(t, hs, "owner", true)
			room := c.ok("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{})["room_id"].(string)
			code, out := c.call("PUT", sendPath(room, "t1"), owner, map[string]any{"msgtype": "m.text", "body": "hello"})
			if code != 403 || out["errcode"] != "M_FORBIDDEN" {
				t.Fatalf("send through the failing module: %d %v, want 403 M_FORBIDDEN", code, out)
			}
			// The server answers, and the module's other callback too
			// (user_may_create_room).
			c.ok("GET", "/_matrix/client/v3/joined_rooms", owner, nil)
			c.ok("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{})
			if got := c.bodies(room, owner); len(got) != 0 {
				t.Fatalf("messages = %q, want none stored", got)
			}
			mod := c.ok("GET", "/_hearth/admin/v1/modules", owner, nil)["modules"].([]any)[0].(map[string]any)
			if mod["failures_by_callback"].(map[string]any)["check_event_for_spam"] != 1.0 ||
				mod["calls_by_callback"].(map[string]any)["user_may_create_room"] != 2.0 {
				t.Fatalf("module counts = %v, want 1 failed check_event_for_spam, 2 user_may_create_room", mod)
			}
		})
	}
}

// TestBadModuleRefusesStart: a module file that is not a module stops Open
// with one line naming it.
func TestBadModuleRefusesStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("not a module"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ModulePaths = PathList(bad)
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err == nil {
		hs.Close()
		t.Fatal("Open with a bad module succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "module "+bad+": not a valid WebAssembly module") {
		t.Fatalf("Open error = %q, want one line naming %s", msg, bad)
	}
	// The data folder is free again: a start without the module works.
	cfg.ModulePaths = ""
	hs, err = Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()
}

// TestModuleCallbacksThroughOpen runs the other callbacks through the real
// wiring with a test module: an extra login type (advertised by GET /login,
// checked by the module), a join refused after reading the room's state,
// a registration refused, on_new_event after each commit.
func TestModuleCallbacksThroughOpen(t *testing.T) {
	hs, c := openWithModules(t, ModuleConfig{Path: moduletest.Build(t, "hearth.dev/hearth/modules/testdata/statereader")})
	owner := moduleUser(t, hs, "owner", true)
	visitor := moduleUser(t, hs, "visitor", false)

	flows := c.ok("GET", "/_matrix/client/v3/login", "", nil)["flows"].([]any)
	var types []string
	for _, f := range flows {
		types = append(types, f.(map[string]any)["type"].(string))
	}
	if !strings.Contains(strings.Join(types, " "), "org.example.magic") {
		t.Fatalf("login flows = %v, want org.example.magic among them", types)
	}
	code, out := c.call("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "org.example.magic", "user": "@visitor:localhost", "password": "nope"})
	if code != 403 || out["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("magic login with the wrong word: %d %v", code, out)
	}
	code, out = c.call("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "org.example.magic", "user": "@nobody:localhost", "password": "sesame"})
	if code != 403 {
		t.Fatalf("magic login of a user that does not exist: %d %v, want 403", code, out)
	}
	login := c.ok("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "org.example.magic", "user": "@visitor:localhost", "password": "sesame"})
	if login["user_id"] != "@visitor:localhost" || login["access_token"] == "" {
		t.Fatalf("magic login = %v", login)
	}
	whoami := c.ok("GET", "/_matrix/client/v3/account/whoami", login["access_token"].(string), nil)
	if whoami["user_id"] != "@visitor:localhost" {
		t.Fatalf("whoami with the magic token = %v", whoami)
	}

	// A public room whose topic says closed: the module reads it and
	// refuses the join with its own errcode.
	room := c.ok("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat", "topic": "closed"})["room_id"].(string)
	code, out = c.call("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", visitor, map[string]any{})
	if code != 403 || out["errcode"] != "ORG.EXAMPLE_CLOSED" {
		t.Fatalf("join of the closed room: %d %v, want 403 ORG.EXAMPLE_CLOSED", code, out)
	}
	c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/state/m.room.topic/", owner, map[string]any{"topic": "open"})
	c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join", visitor, map[string]any{})

	mod := c.ok("GET", "/_hearth/admin/v1/modules", owner, nil)["modules"].([]any)[0].(map[string]any)
	by := mod["calls_by_callback"].(map[string]any)
	// on_new_event saw every event committed: the room's creation (at
	// least 6 events), the topic change and the join.
	if by["on_new_event"].(float64) < 8 || by["user_may_join_room"] != 2.0 || by["check_auth"] != 3.0 {
		t.Fatalf("module calls = %v", by)
	}
}

// TestModuleRegistrationCheck: check_registration_for_spam refuses a user
// name at /register, and lets another through.
func TestModuleRegistrationCheck(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Registration = "open"
	cfg.Modules = []ModuleConfig{{Path: moduletest.Build(t, "hearth.dev/hearth/modules/testdata/statereader")}}
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	moduleUser(t, hs, "owner", true) // the first account is not the one under test
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	c := moduleClient{t: t, base: srv.URL}
	register := func(name string) (int, map[string]any) {
		// The first request gets the session and flows, the second
		// completes m.login.dummy.
		code, out := c.call("POST", "/_matrix/client/v3/register", "", map[string]any{"username": name, "password": "a long enough password"})
		if code != 401 {
			return code, out
		}
		return c.call("POST", "/_matrix/client/v3/register", "", map[string]any{"username": name, "password": "a long enough password",
			"auth": map[string]any{"type": "m.login.dummy", "session": out["session"]}})
	}
	if code, out := register("spammer"); code != 403 || out["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("register spammer: %d %v, want 403 M_FORBIDDEN", code, out)
	}
	if _, err := hs.services.Accounts.Account(context.Background(), "@spammer:localhost"); err == nil {
		t.Fatal("the refused account exists")
	}
	if code, out := register("alice"); code != 200 || out["user_id"] != "@alice:localhost" {
		t.Fatalf("register alice: %d %v", code, out)
	}
}

// TestModuleMetrics: with metrics.listen set, the modules' calls and
// failures are counted by module and callback.
func TestModuleMetrics(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Modules = []ModuleConfig{{Path: moduletest.Build(t, "hearth.dev/hearth/examples/modules/keyword-filter"),
		Config: map[string]any{"words": []any{"casino"}}}}
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	// The compiled module is kept for the next start.
	if cached, _ := os.ReadDir(filepath.Join(cfg.DataDir, "module-cache")); len(cached) == 0 {
		t.Error("no compiled code in the data folder's module-cache")
	}
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	scrape := httptest.NewServer(hs.Metrics)
	t.Cleanup(scrape.Close)
	c := moduleClient{t: t, base: srv.URL}
	owner := moduleUser(t, hs, "owner", true)
	room := c.ok("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{})["room_id"].(string)
	c.ok("PUT", sendPath(room, "m1"), owner, map[string]any{"msgtype": "m.text", "body": "hello"})
	c.ok("PUT", sendPath(room, "m2"), owner, map[string]any{"msgtype": "m.text", "body": "hello again"})
	resp, err := http.Get(scrape.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`hearth_module_calls_total{module="keyword-filter",callback="check_event_for_spam"} 2`,
		`hearth_module_failures_total{module="keyword-filter",callback="check_event_for_spam"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scrape lacks %q:\n%s", want, b)
		}
	}
}
