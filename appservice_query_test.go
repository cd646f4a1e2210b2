package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// queryBridge is an application service on 127.0.0.1 that answers the
// homeserver's queries: a user query for @_q_* registers the ghost
// (through the homeserver, with its as_token) and says yes; an alias
// query for #_q_known creates the room and alias; it bridges protocol
// "echo".
type queryBridge struct {
	t    *testing.T
	hs   string // the homeserver's base URL
	mu   sync.Mutex
	log  []string // "METHOD path?query auth"
	fail int      // status to answer pings with (0: 200)
}

func (b *queryBridge) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.log = append(b.log, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
	fail := b.fail
	b.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer q-hs" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/_matrix/app/v1/ping":
		if fail != 0 {
			w.WriteHeader(fail)
			io.WriteString(w, `{"errcode":"M_UNKNOWN_TOKEN"}`)
			return
		}
		io.WriteString(w, "{}")
	case strings.HasPrefix(p, "/_matrix/app/v1/users/"):
		user := strings.TrimPrefix(p, "/_matrix/app/v1/users/")
		local := strings.TrimSuffix(strings.TrimPrefix(user, "@"), ":localhost")
		if !strings.HasPrefix(local, "_q_known") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errcode":"M_NOT_FOUND"}`)
			return
		}
		b.call("POST", "/_matrix/client/v3/register", map[string]any{"type": "m.login.application_service", "username": local, "inhibit_login": true})
		b.call("PUT", "/_matrix/client/v3/profile/"+url.PathEscape(user)+"/displayname?user_id="+url.QueryEscape(user), map[string]any{"displayname": "Known Ghost"})
		io.WriteString(w, "{}")
	case strings.HasPrefix(p, "/_matrix/app/v1/rooms/"):
		alias := strings.TrimPrefix(p, "/_matrix/app/v1/rooms/")
		local, ok := strings.CutSuffix(strings.TrimPrefix(alias, "#"), ":localhost")
		if !ok || local != "_q_known" && local != "_q_joinable" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		b.call("POST", "/_matrix/client/v3/createRoom", map[string]any{"room_alias_name": local, "preset": "public_chat"})
		io.WriteString(w, "{}")
	case p == "/_matrix/app/v1/thirdparty/protocol/echo":
		io.WriteString(w, `{"user_fields":["name"],"location_fields":["channel"],"icon":"mxc://x/y","field_types":{},"instances":[{"network_id":"echo-net","desc":"Echo","fields":{}}]}`)
	case p == "/_matrix/app/v1/thirdparty/user/echo":
		io.WriteString(w, `[{"userid":"@_q_`+r.URL.Query().Get("name")+`:localhost","protocol":"echo","fields":{"name":"`+r.URL.Query().Get("name")+`"}}]`)
	case p == "/_matrix/app/v1/thirdparty/location/echo":
		io.WriteString(w, `[{"alias":"#_q_`+r.URL.Query().Get("channel")+`:localhost","protocol":"echo","fields":{"channel":"`+r.URL.Query().Get("channel")+`"}}]`)
	case p == "/_matrix/app/v1/thirdparty/user":
		io.WriteString(w, `[{"userid":"`+r.URL.Query().Get("userid")+`","protocol":"echo","fields":{"name":"n"}}]`)
	case p == "/_matrix/app/v1/thirdparty/location":
		io.WriteString(w, `[{"alias":"`+r.URL.Query().Get("alias")+`","protocol":"echo","fields":{"channel":"c"}}]`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// call makes a client-server request as the bridge.
func (b *queryBridge) call(method, path string, body any) {
	js, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, b.hs+path, bytes.NewReader(js))
	req.Header.Set("Authorization", "Bearer q-as")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Errorf("bridge %s %s: %v", method, path, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		b.t.Errorf("bridge %s %s: %d %s", method, path, resp.StatusCode, msg)
	}
}

func (c testClient) raw(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestAppServiceQueriesPingAndThirdParty(t *testing.T) {
	bridge := &queryBridge{t: t}
	bsrv := httptest.NewServer(http.HandlerFunc(bridge.serve))
	defer bsrv.Close()
	dir := t.TempDir()
	reg := filepath.Join(dir, "q.yaml")
	os.WriteFile(reg, []byte("id: q\nurl: "+bsrv.URL+"\nas_token: q-as\nhs_token: q-hs\nsender_localpart: qbot\nprotocols: [echo]\n"+
		"namespaces:\n  users: [{exclusive: true, regex: '@_q_.*:localhost'}]\n  aliases: [{exclusive: true, regex: '#_q_.*:localhost'}]\n"), 0o600)
	nourl := filepath.Join(dir, "n.yaml")
	os.WriteFile(nourl, []byte("id: n\nas_token: n-as\nhs_token: n-hs\nsender_localpart: nbot\n"), 0o600)
	hs, c := openWithAppServices(t, t.TempDir(), reg, nourl)
	defer hs.Close()
	bridge.hs = c.base
	owner := localUser(t, hs, "owner")

	// A profile lookup of an unknown ghost asks the bridge, which makes it.
	status, body := c.raw("GET", "/_matrix/client/v3/profile/"+url.PathEscape("@_q_known1:localhost"), owner, nil)
	if status != 200 || body["displayname"] != "Known Ghost" {
		t.Errorf("profile of a ghost the bridge knows: %d %v", status, body)
	}
	status, body = c.raw("GET", "/_matrix/client/v3/profile/"+url.PathEscape("@_q_nobody:localhost"), owner, nil)
	if status != 404 {
		t.Errorf("profile of a ghost the bridge does not know: %d %v", status, body)
	}
	status, _ = c.raw("GET", "/_matrix/client/v3/profile/"+url.PathEscape("@stranger:localhost"), owner, nil)
	// Inviting an unknown ghost asks the bridge too, which makes it.
	room := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{})["room_id"].(string)
	c.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/invite", owner, map[string]any{"user_id": "@_q_known2:localhost"})
	if _, err := hs.services.Accounts.Account(context.Background(), "@_q_known2:localhost"); err != nil {
		t.Errorf("the invited ghost was not created through the bridge: %v", err)
	}
	// An alias lookup likewise.
	status, body = c.raw("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#_q_known:localhost"), owner, nil)
	if status != 200 || body["room_id"] == nil {
		t.Errorf("alias the bridge knows: %d %v", status, body)
	}
	status, body = c.raw("GET", "/_matrix/client/v3/directory/room/"+url.PathEscape("#_q_other:localhost"), owner, nil)
	if status != 404 {
		t.Errorf("alias the bridge does not know: %d %v", status, body)
	}
	bridge.mu.Lock()
	var queries []string
	for _, l := range bridge.log {
		if strings.Contains(l, "/users/") || strings.Contains(l, "/rooms/") {
			queries = append(queries, l)
		}
		if !strings.HasSuffix(l, "Bearer q-hs") {
			t.Errorf("request without the hs_token: %s", l)
		}
	}
	bridge.mu.Unlock()
	if len(queries) != 5 { // not for @stranger, outside the namespace
		t.Errorf("queries = %q, want 5 (three users, two aliases)", queries)
	}
	// Joining by an alias no room has asks the bridge too, which makes
	// the room.
	joined := c.do("POST", "/_matrix/client/v3/join/"+url.PathEscape("#_q_joinable:localhost"), owner, map[string]any{})
	if roomID, err := hs.services.Rooms.ResolveAlias(context.Background(), "#_q_joinable:localhost"); err != nil || joined["room_id"] != roomID {
		t.Errorf("join by an alias the bridge knows: %v, resolved %q, %v", joined, roomID, err)
	}
	status, body = c.raw("POST", "/_matrix/client/v3/join/"+url.PathEscape("#_q_unjoinable:localhost"), owner, map[string]any{})
	if status != 404 {
		t.Errorf("join by an alias the bridge does not know: %d %v", status, body)
	}
	bridge.mu.Lock()
	n := 0
	for _, l := range bridge.log {
		if strings.Contains(l, "/rooms/"+url.PathEscape("#_q_joinable:localhost")) || strings.Contains(l, "/rooms/"+url.PathEscape("#_q_unjoinable:localhost")) {
			n++
		}
	}
	bridge.mu.Unlock()
	if n != 2 {
		t.Errorf("the bridge was asked %d times about the aliases joined, want 2", n)
	}

	// Ping: only the service itself, with its token.
	status, body = c.raw("POST", "/_matrix/client/v1/appservice/q/ping", "q-as", map[string]any{"transaction_id": "t1"})
	if _, ok := body["duration_ms"].(float64); status != 200 || !ok {
		t.Errorf("ping: %d %v", status, body)
	}
	bridge.mu.Lock()
	bridge.fail = 401
	bridge.mu.Unlock()
	status, body = c.raw("POST", "/_matrix/client/v1/appservice/q/ping", "q-as", map[string]any{})
	if status != 502 || body["errcode"] != "M_BAD_STATUS" || body["status"] != float64(401) {
		t.Errorf("ping of a failing service: %d %v", status, body)
	}
	status, body = c.raw("POST", "/_matrix/client/v1/appservice/q/ping", "n-as", map[string]any{})
	if status != 403 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("ping of another service: %d %v", status, body)
	}
	status, body = c.raw("POST", "/_matrix/client/v1/appservice/n/ping", "n-as", map[string]any{})
	if status != 400 || body["errcode"] != "M_URL_NOT_SET" {
		t.Errorf("ping of a service without a URL: %d %v", status, body)
	}
	status, body = c.raw("POST", "/_matrix/client/v1/appservice/q/ping", owner, map[string]any{})
	if status != 403 {
		t.Errorf("ping by a user: %d %v", status, body)
	}

	// Third-party lookups are answered from the bridge.
	status, body = c.raw("GET", "/_matrix/client/v3/thirdparty/protocols", owner, nil)
	if echo, _ := body["echo"].(map[string]any); status != 200 || echo["icon"] != "mxc://x/y" {
		t.Errorf("protocols: %d %v", status, body)
	}
	status, body = c.raw("GET", "/_matrix/client/v3/thirdparty/protocol/echo", owner, nil)
	if status != 200 || body["instances"] == nil {
		t.Errorf("protocol echo: %d %v", status, body)
	}
	status, _ = c.raw("GET", "/_matrix/client/v3/thirdparty/protocol/irc", owner, nil)
	if status != 404 {
		t.Errorf("protocol irc (no bridge): %d", status)
	}
	list := func(path string) []map[string]any {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", c.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return out
	}
	if got := list("/_matrix/client/v3/thirdparty/user/echo?name=bob"); len(got) != 1 || got[0]["userid"] != "@_q_bob:localhost" {
		t.Errorf("user lookup: %v", got)
	}
	if got := list("/_matrix/client/v3/thirdparty/location?alias=" + url.QueryEscape("#_q_x:localhost")); len(got) != 1 || got[0]["alias"] != "#_q_x:localhost" {
		t.Errorf("location lookup: %v", got)
	}
	if got := list("/_matrix/client/v3/thirdparty/location/echo?channel=c1"); len(got) != 1 || got[0]["alias"] != "#_q_c1:localhost" {
		t.Errorf("location lookup by protocol: %v", got)
	}
	if got := list("/_matrix/client/v3/thirdparty/user?userid=" + url.QueryEscape("@_q_bob:localhost")); len(got) != 1 || got[0]["userid"] != "@_q_bob:localhost" {
		t.Errorf("user lookup by user ID: %v", got)
	}
	status, body = c.raw("GET", "/_matrix/client/v3/thirdparty/location/irc?channel=c1", owner, nil)
	if status != 404 {
		t.Errorf("location lookup of a protocol no service bridges: %d %v", status, body)
	}
	status, body = c.raw("GET", "/_matrix/client/v3/thirdparty/location", owner, nil)
	if status != 400 || body["errcode"] != "M_MISSING_PARAM" {
		t.Errorf("location without alias: %d %v", status, body)
	}
}
