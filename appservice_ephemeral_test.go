package hearth

import (
	"fmt"
	"net/url"
	"testing"
)

// joinGhost registers service id's ghost @_<id>_ghost:localhost and joins
// it to roomID, so the service is interested in the room.
func joinGhost(c testClient, id, roomID string) {
	ghost := "@_" + id + "_ghost:localhost"
	c.do("POST", "/_matrix/client/v3/register", id+"-as", map[string]any{
		"type": "m.login.application_service", "username": "_" + id + "_ghost", "inhibit_login": true})
	c.do("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?user_id="+url.QueryEscape(ghost), id+"-as", map[string]any{})
}

// ephemeralSummary describes f's typing and receipt events in order:
// "typing [users]" and "receipt <event ID>".
func ephemeralSummary(f *fakeAppService) []string {
	var out []string
	for _, x := range f.eph {
		c, _ := x["content"].(map[string]any)
		switch x["type"] {
		case "m.typing":
			out = append(out, fmt.Sprint("typing ", c["user_ids"]))
		case "m.receipt":
			for ev := range c {
				out = append(out, "receipt "+ev)
			}
		}
	}
	return out
}

// TestAppServiceEphemeralQueued checks that ephemeral events are queued
// in the database like events: typing and receipts while the service is
// down are kept across a restart of the homeserver and delivered once it
// is back, in order, once.
func TestAppServiceEphemeralQueued(t *testing.T) {
	e := newFakeAppService(t, "e-hs")
	reg := writeRegistration(t, t.TempDir(), "e", e.srv.URL, `@_e_.*:localhost`, "receive_ephemeral: true\n")
	dataDir := t.TempDir()
	hs, c := openWithAppServices(t, dataDir, reg)
	owner := localUser(t, hs, "owner")
	ownerID := "@owner:localhost"
	roomID := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	joinGhost(c, "e", roomID)
	r := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
	ev := c.do("PUT", r+"/send/m.room.message/m1", owner, map[string]any{"body": "hi"})["event_id"].(string)
	e.waitFor("the message", func(f *fakeAppService) bool { return len(f.bodies()) == 1 })

	e.mu.Lock()
	e.down = true
	e.mu.Unlock()
	typing := func(on bool) {
		c.do("PUT", r+"/typing/"+url.PathEscape(ownerID), owner, map[string]any{"typing": on, "timeout": 30000})
	}
	typing(true)
	c.do("POST", r+"/receipt/m.read/"+url.PathEscape(ev), owner, map[string]any{})
	typing(false)
	typing(true)
	e.waitFor("a refused transaction", func(f *fakeAppService) bool { return f.failures >= 1 })

	hs.Close()
	hs, _ = openWithAppServices(t, dataDir, reg)
	defer hs.Close()
	e.mu.Lock()
	e.down = false
	e.mu.Unlock()
	want := []string{"typing [" + ownerID + "]", "receipt " + ev, "typing []", "typing [" + ownerID + "]"}
	e.waitFor("the queued ephemeral events", func(f *fakeAppService) bool { return len(ephemeralSummary(f)) >= len(want) })
	e.mu.Lock()
	defer e.mu.Unlock()
	if got := ephemeralSummary(e); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ephemeral events = %q, want %q (in order, once)", got, want)
	}
}

// TestAppServiceRetrySameTransaction checks that a retried transaction
// carries what its first try did: a service took a transaction in but
// its answer was lost, events arrived meanwhile; the retry, which the
// service acknowledges as a repeat, must not carry them (the service
// would drop them with the repeat), so they come in the next transaction.
func TestAppServiceRetrySameTransaction(t *testing.T) {
	e := newFakeAppService(t, "e-hs")
	reg := writeRegistration(t, t.TempDir(), "e", e.srv.URL, `@_e_.*:localhost`, "receive_ephemeral: true\n")
	hs, c := openWithAppServices(t, t.TempDir(), reg)
	defer hs.Close()
	owner := localUser(t, hs, "owner")
	roomID := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	joinGhost(c, "e", roomID)
	r := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
	e.waitFor("the ghost's join", func(f *fakeAppService) bool { return len(f.txnIDs) > 0 })

	e.mu.Lock()
	e.lossy = true
	e.mu.Unlock()
	c.do("PUT", r+"/send/m.room.message/m1", owner, map[string]any{"body": "first"})
	e.waitFor("the first message", func(f *fakeAppService) bool { return len(f.bodies()) == 1 })
	c.do("PUT", r+"/send/m.room.message/m2", owner, map[string]any{"body": "second"})
	c.do("PUT", r+"/typing/"+url.PathEscape("@owner:localhost"), owner, map[string]any{"typing": true, "timeout": 30000})
	e.mu.Lock()
	failed := e.failures
	e.mu.Unlock()
	// A retry after the second message and the typing were stored.
	e.waitFor("a retry", func(f *fakeAppService) bool { return f.failures > failed })
	e.mu.Lock()
	e.lossy = false
	e.mu.Unlock()
	e.waitFor("the second message and the typing", func(f *fakeAppService) bool {
		return len(f.bodies()) == 2 && len(ephemeralSummary(f)) == 1
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	if got := e.bodies(); fmt.Sprint(got) != "[first second]" {
		t.Errorf("bodies = %q, want [first second]", got)
	}
	if got := ephemeralSummary(e); fmt.Sprint(got) != "[typing [@owner:localhost]]" {
		t.Errorf("ephemeral = %q", got)
	}
}

// TestAppServiceEphemeralRules checks who gets which ephemeral event
// (application service API, "Pushing ephemeral data"): a private read
// receipt only goes to the service whose namespaces hold its user, and a
// user's presence goes to the service that holds the user even when it
// shares no room with them, and not to a service that neither holds the
// user nor shares a room with them. Events that must not arrive are
// checked against one that must, sent after them: the queue is ordered.
func TestAppServiceEphemeralRules(t *testing.T) {
	e := newFakeAppService(t, "e-hs")
	f := newFakeAppService(t, "f-hs")
	dir := t.TempDir()
	hs, c := openWithAppServices(t, t.TempDir(),
		writeRegistration(t, dir, "e", e.srv.URL, `@_e_.*:localhost`, "receive_ephemeral: true\n"),
		writeRegistration(t, dir, "f", f.srv.URL, `@_f_.*:localhost`, "receive_ephemeral: true\n"))
	defer hs.Close()
	owner := localUser(t, hs, "owner")
	roomID := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	joinGhost(c, "e", roomID)
	eGhost, fGhost := "@_e_ghost:localhost", "@_f_ghost:localhost"
	c.do("POST", "/_matrix/client/v3/register", "f-as", map[string]any{
		"type": "m.login.application_service", "username": "_f_ghost", "inhibit_login": true})
	r := "/_matrix/client/v3/rooms/" + url.PathEscape(roomID)
	ev := c.do("PUT", r+"/send/m.room.message/m1", owner, map[string]any{"body": "hi"})["event_id"].(string)

	receipts := func(x *fakeAppService, typ string) []string {
		var out []string
		for _, m := range x.eph {
			if m["type"] != "m.receipt" {
				continue
			}
			for _, byType := range m["content"].(map[string]any) {
				for user := range byType.(map[string]any)[typ].(map[string]any) {
					out = append(out, user)
				}
			}
		}
		return out
	}
	// The owner's private receipt goes nowhere; the ghost's to e.
	c.do("POST", r+"/receipt/m.read.private/"+url.PathEscape(ev), owner, map[string]any{})
	c.do("POST", r+"/receipt/m.read.private/"+url.PathEscape(ev)+"?user_id="+url.QueryEscape(eGhost), "e-as", map[string]any{})
	e.waitFor("the ghost's private receipt", func(x *fakeAppService) bool { return len(receipts(x, "m.read.private")) > 0 })
	e.mu.Lock()
	if got := receipts(e, "m.read.private"); fmt.Sprint(got) != fmt.Sprint([]string{eGhost}) {
		t.Errorf("private receipts e got for %v, want only its ghost's", got)
	}
	e.mu.Unlock()

	// f's ghost, in no room, comes online: f hears of it, e does not.
	c.do("PUT", "/_matrix/client/v3/presence/"+url.PathEscape(fGhost)+"/status?user_id="+url.QueryEscape(fGhost), "f-as",
		map[string]any{"presence": "online"})
	f.waitFor("its ghost's presence", func(x *fakeAppService) bool {
		for _, m := range x.eph {
			if m["type"] == "m.presence" && m["sender"] == fGhost {
				return true
			}
		}
		return false
	})
	c.do("PUT", r+"/typing/"+url.PathEscape(eGhost)+"?user_id="+url.QueryEscape(eGhost), "e-as", map[string]any{"typing": true, "timeout": 30000})
	e.waitFor("its ghost typing", func(x *fakeAppService) bool {
		for _, s := range ephemeralSummary(x) {
			if s == "typing ["+eGhost+"]" {
				return true
			}
		}
		return false
	})
	e.mu.Lock()
	for _, m := range e.eph {
		if m["type"] == "m.presence" && m["sender"] == fGhost {
			t.Errorf("e got the presence of f's ghost, with whom it shares no room: %v", m)
		}
	}
	e.mu.Unlock()
	f.mu.Lock()
	if got := receipts(f, "m.read.private"); len(got) != 0 {
		t.Errorf("f got private receipts %v", got)
	}
	f.mu.Unlock()
}

// TestAppServiceTypingTimeout checks that a typing notification that
// runs out (no typing:false from the client) reaches the service as an
// m.typing event without the user, as /sync shows it.
func TestAppServiceTypingTimeout(t *testing.T) {
	e := newFakeAppService(t, "e-hs")
	hs, c := openWithAppServices(t, t.TempDir(),
		writeRegistration(t, t.TempDir(), "e", e.srv.URL, `@_e_.*:localhost`, "receive_ephemeral: true\n"))
	defer hs.Close()
	owner := localUser(t, hs, "owner")
	roomID := c.do("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"preset": "public_chat"})["room_id"].(string)
	joinGhost(c, "e", roomID)
	c.do("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/typing/"+url.PathEscape("@owner:localhost"), owner,
		map[string]any{"typing": true, "timeout": 200})
	e.waitFor("the owner typing, then not", func(x *fakeAppService) bool { return len(ephemeralSummary(x)) >= 2 })
	e.mu.Lock()
	defer e.mu.Unlock()
	if got := ephemeralSummary(e); fmt.Sprint(got) != "[typing [@owner:localhost] typing []]" {
		t.Errorf("ephemeral = %q, want the owner typing, then no one", got)
	}
}
