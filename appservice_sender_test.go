package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/core"
)

// fakeAppService is an application service on 127.0.0.1 that records the
// transactions it accepts; while down it answers 503.
type fakeAppService struct {
	t       *testing.T
	hsToken string
	srv     *httptest.Server

	mu       sync.Mutex
	down     bool
	lossy    bool // the service takes transactions in but its answers are lost (500)
	failures int  // transactions refused while down, or answered 500 while lossy
	txnIDs   []string
	events   []map[string]any // accepted, in arrival order, duplicates kept
	eph      []map[string]any // accepted ephemeral events
	ephMSC   int              // of them, also under de.sorunome.msc2409.ephemeral
	changed  chan struct{}
}

func newFakeAppService(t *testing.T, hsToken string) *fakeAppService {
	f := &fakeAppService{t: t, hsToken: hsToken, changed: make(chan struct{}, 1)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAppService) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.hsToken {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errcode":"M_FORBIDDEN"}`)
		return
	}
	txn, ok := strings.CutPrefix(r.URL.Path, "/_matrix/app/v1/transactions/")
	if !ok || r.Method != http.MethodPut {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var body struct {
		Events []map[string]any `json:"events"`
		Eph    []map[string]any `json:"ephemeral"`
		EphMSC []map[string]any `json:"de.sorunome.msc2409.ephemeral"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("transaction %s: %v", txn, err)
	}
	f.mu.Lock()
	defer func() {
		f.mu.Unlock()
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}()
	if f.down {
		f.failures++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	seen := false
	for _, id := range f.txnIDs {
		seen = seen || id == txn
	}
	if !seen { // a retried transaction already accepted is acknowledged again, not applied twice
		f.txnIDs = append(f.txnIDs, txn)
		f.events = append(f.events, body.Events...)
		f.eph = append(f.eph, body.Eph...)
		f.ephMSC += len(body.EphMSC)
	}
	if f.lossy {
		f.failures++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "{}")
}

// waitFor waits until cond holds over the recorded state (the test fails
// if it never does within a minute: a guard against hanging, not a
// timing assertion).
func (f *fakeAppService) waitFor(what string, cond func(f *fakeAppService) bool) {
	f.t.Helper()
	deadline := time.After(time.Minute)
	for {
		f.mu.Lock()
		ok := cond(f)
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.changed:
		case <-deadline:
			f.t.Fatalf("application service never saw %s", what)
		}
	}
}

// bodies returns the bodies of the m.room.message events received.
func (f *fakeAppService) bodies() []string {
	var out []string
	for _, ev := range f.events {
		if ev["type"] == "m.room.message" {
			c, _ := ev["content"].(map[string]any)
			out = append(out, fmt.Sprint(c["body"]))
		}
	}
	return out
}

func writeRegistration(t *testing.T, dir, id, url, userRegex string, extra ...string) string {
	t.Helper()
	p := filepath.Join(dir, id+".yaml")
	text := fmt.Sprintf("id: %s\nurl: %q\nas_token: %s-as\nhs_token: %s-hs\nsender_localpart: %sbot\n"+
		"namespaces:\n  users: [{exclusive: false, regex: '%s'}]\n", id, url, id, id, id, userRegex) + strings.Join(extra, "")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testClient calls a homeserver over HTTP on 127.0.0.1.
type testClient struct {
	t    *testing.T
	base string
}

func (c testClient) do(method, path, token string, body any) map[string]any {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

func openWithAppServices(t *testing.T, dataDir string, files ...string) (*Homeserver, testClient) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dataDir
	cfg.AppServices = PathList(strings.Join(files, ","))
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hs.Handler)
	t.Cleanup(srv.Close)
	return hs, testClient{t: t, base: srv.URL}
}

func localUser(t *testing.T, hs *Homeserver, localpart string) string {
	t.Helper()
	ctx := context.Background()
	userID := "@" + localpart + ":" + hs.ServerName
	if _, err := hs.services.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	tok, err := hs.services.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestAppServiceTransactions pushes events to two services through the
// real wiring: an event of a room both are interested in reaches both;
// a room neither is interested in reaches neither; a service that is
// down gets, once it is back, every event it missed, in order, once, and
// the same after a restart of the homeserver with transactions queued.
func TestAppServiceTransactions(t *testing.T) {
	a := newFakeAppService(t, "a-hs")
	b := newFakeAppService(t, "b-hs")
	dir := t.TempDir()
	fileA := writeRegistration(t, dir, "a", a.srv.URL, `@_a_.*:localhost`)
	fileB := writeRegistration(t, dir, "b", b.srv.URL, `@_b_.*:localhost`)
	dataDir := t.TempDir()
	hs, c := openWithAppServices(t, dataDir, fileA, fileB)
	owner := localUser(t, hs, "owner")

	// A room with no ghost: neither service hears of it.
	quiet := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{})["room_id"].(string)
	c.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(quiet)+"/send/m.room.message/q1", owner, map[string]any{"body": "private"})

	// A room both services' users are invited to.
	room := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{
		"invite": []string{"@_a_ghost:localhost", "@_b_ghost:localhost"}})["room_id"].(string)
	// Each service's ghost registers and joins: the room has a member in
	// each service's namespace.
	for _, id := range []string{"a", "b"} {
		ghost := "@_" + id + "_ghost:localhost"
		c.do("POST", "/_matrix/client/v3/register", id+"-as", map[string]any{
			"type": "m.login.application_service", "username": "_" + id + "_ghost", "inhibit_login": true})
		c.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join?user_id="+url.QueryEscape(ghost), id+"-as", map[string]any{})
	}
	send := func(txn, body string) {
		c.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/send/m.room.message/"+txn, owner, map[string]any{"body": body})
	}
	send("m0", "hello both")
	for _, f := range []*fakeAppService{a, b} {
		f.waitFor("the message", func(f *fakeAppService) bool { return len(f.bodies()) == 1 })
		f.mu.Lock()
		if got := f.bodies(); got[0] != "hello both" {
			t.Errorf("bodies = %q", got)
		}
		for _, ev := range f.events {
			if ev["room_id"] == quiet {
				t.Errorf("a service received an event of a room it has no interest in: %v", ev)
			}
			if ev["event_id"] == nil || ev["sender"] == nil || ev["auth_events"] != nil {
				t.Errorf("event not in the client format: %v", ev)
			}
		}
		f.mu.Unlock()
	}

	// a goes down; messages queue up.
	a.mu.Lock()
	a.down = true
	a.mu.Unlock()
	var want []string
	want = append(want, "hello both")
	for i := range 5 {
		body := fmt.Sprintf("while down %d", i)
		send(fmt.Sprintf("d%d", i), body)
		want = append(want, body)
	}
	b.waitFor("the messages sent while a was down", func(f *fakeAppService) bool { return len(f.bodies()) == 6 })
	a.waitFor("a refused transaction", func(f *fakeAppService) bool { return f.failures >= 1 })

	// Restart with the queue not drained: nothing is lost.
	hs.Close()
	hs, c = openWithAppServices(t, dataDir, fileA, fileB)
	defer hs.Close()
	a.mu.Lock()
	a.down = false
	a.mu.Unlock()
	a.waitFor("the queued messages", func(f *fakeAppService) bool { return len(f.bodies()) >= 6 })
	a.mu.Lock()
	if got := a.bodies(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("a received %q, want %q (in order, once)", got, want)
	}
	a.mu.Unlock()
	b.mu.Lock()
	if got := b.bodies(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("b received %q, want %q", got, want)
	}
	b.mu.Unlock()
}

// TestAppServiceEphemeral checks receive_ephemeral: typing, read receipts
// and presence of a room with a ghost reach the service that asked for
// them (under both keys Synapse uses), and not one that did not.
func TestAppServiceEphemeral(t *testing.T) {
	e := newFakeAppService(t, "e-hs")
	p := newFakeAppService(t, "p-hs")
	dir := t.TempDir()
	hs, c := openWithAppServices(t, t.TempDir(),
		writeRegistration(t, dir, "e", e.srv.URL, `@_e_.*:localhost`, "receive_ephemeral: true\n"),
		writeRegistration(t, dir, "p", p.srv.URL, `@_p_.*:localhost`))
	defer hs.Close()
	owner := localUser(t, hs, "owner")
	ownerID := "@owner:localhost"
	room := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{
		"invite": []string{"@_e_ghost:localhost", "@_p_ghost:localhost"}})["room_id"].(string)
	for _, id := range []string{"e", "p"} {
		ghost := "@_" + id + "_ghost:localhost"
		c.do("POST", "/_matrix/client/v3/register", id+"-as", map[string]any{
			"type": "m.login.application_service", "username": "_" + id + "_ghost", "inhibit_login": true})
		c.do("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join?user_id="+url.QueryEscape(ghost), id+"-as", map[string]any{})
	}
	r := "/_matrix/client/v3/rooms/" + url.PathEscape(room)
	c.do("PUT", r+"/typing/"+url.PathEscape(ownerID), owner, map[string]any{"typing": true, "timeout": 30000})
	ev := c.do("PUT", r+"/send/m.room.message/m1", owner, map[string]any{"body": "hi"})["event_id"].(string)
	c.do("POST", r+"/receipt/m.read/"+url.PathEscape(ev), owner, map[string]any{})
	c.do("PUT", "/_matrix/client/v3/presence/"+url.PathEscape(ownerID)+"/status", owner, map[string]any{"presence": "online"})

	has := func(f *fakeAppService, typ string) bool {
		for _, x := range f.eph {
			if x["type"] == typ {
				return true
			}
		}
		return false
	}
	e.waitFor("typing, a receipt and presence", func(f *fakeAppService) bool {
		return has(f, "m.typing") && has(f, "m.receipt") && has(f, "m.presence")
	})
	e.mu.Lock()
	for _, x := range e.eph {
		switch x["type"] {
		case "m.typing":
			users := x["content"].(map[string]any)["user_ids"].([]any)
			if x["room_id"] != room || len(users) != 1 || users[0] != ownerID {
				t.Errorf("typing event %v", x)
			}
		case "m.receipt":
			if content, _ := x["content"].(map[string]any); content[ev] == nil {
				t.Errorf("receipt event %v, want one for %s", x, ev)
			}
		case "m.presence":
			if x["sender"] != ownerID {
				t.Errorf("presence event %v", x)
			}
		}
	}
	if e.ephMSC != len(e.eph) {
		t.Errorf("%d ephemeral events, %d under de.sorunome.msc2409.ephemeral", len(e.eph), e.ephMSC)
	}
	e.mu.Unlock()
	// p has the message (its ghost is in the room) but no ephemeral events.
	p.waitFor("the message", func(f *fakeAppService) bool { return len(f.bodies()) == 1 })
	p.mu.Lock()
	if len(p.eph) != 0 {
		t.Errorf("a service without receive_ephemeral got %v", p.eph)
	}
	p.mu.Unlock()
}
