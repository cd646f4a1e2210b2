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
