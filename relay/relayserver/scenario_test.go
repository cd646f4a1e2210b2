package relayserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"hearth.dev/hearth"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

// owner is a homeserver's owner, logged in, calling its client API
// through the handler the composition root built.
type owner struct {
	t     *testing.T
	hs    *hearth.Homeserver
	user  string
	token string
}

func newOwner(t *testing.T, hs *hearth.Homeserver, name string) *owner {
	t.Helper()
	o := &owner{t: t, hs: hs}
	if need, err := hs.NeedsOwner(context.Background()); err != nil {
		t.Fatal(err)
	} else if need {
		if o.user, err = hs.CreateOwner(context.Background(), name, name+" password"); err != nil {
			t.Fatal(err)
		}
	}
	_, out := o.call("POST", "/_matrix/client/v3/login", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": name}, "password": name + " password",
	})
	o.token, _ = out["access_token"].(string)
	o.user, _ = out["user_id"].(string)
	if o.token == "" {
		t.Fatalf("login of %s: %v", name, out)
	}
	return o
}

func (o *owner) call(method, path string, body any) (int, map[string]any) {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(b))
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	rec := httptest.NewRecorder()
	o.hs.Handler.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func (o *owner) ok(method, path string, body any) map[string]any {
	o.t.Helper()
	status, out := o.call(method, path, body)
	if status != http.StatusOK {
		o.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

func (o *owner) send(roomID, body string, txn int) {
	o.t.Helper()
	o.ok("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/t%d", url.PathEscape(roomID), txn),
		map[string]any{"msgtype": "m.text", "body": body})
}

// bodies returns the message bodies of roomID the owner sees, oldest
// first.
func (o *owner) bodies(roomID string) []string {
	status, out := o.call("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=500", nil)
	if status != http.StatusOK {
		return nil
	}
	chunk, _ := out["chunk"].([]any)
	var got []string
	for i := len(chunk) - 1; i >= 0; i-- {
		ev, _ := chunk[i].(map[string]any)
		if ev["type"] != "m.room.message" {
			continue
		}
		content, _ := ev["content"].(map[string]any)
		if b, ok := content["body"].(string); ok {
			got = append(got, b)
		}
	}
	return got
}

// The scenario: hearth A federates directly; hearth B has no
// listener and sits behind relay R (*.relay.test, a test CA, names
// resolved to R). B's owner joins a room on A; messages go both ways; B is
// closed while A sends; when B opens again every message is there, in
// order, once.
func TestRelayFederationScenario(t *testing.T) {
	n := newTestNet(t)
	caFile := n.caFile(t)
	transport, err := federation.NewHTTPSTransport(federation.TransportOptions{CAFile: caFile, AllowPrivateAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	tr := startRelay(t, n, t.TempDir(), func(c *relayserver.Config) {
		c.Outbound = &relayserver.Outbound{Transport: transport, Rate: 1000, Burst: 1000}
	})
	a := hearthA(t, n, caFile)
	dirB := t.TempDir()
	b := hearthB(t, n, dirB, caFile, tr.addNode(t, "bob"))
	t.Cleanup(func() { b.Close() })
	waitFor(t, "B is connected to R", func() bool { return b.RelayStatus().State == relay.StateConnected })
	alice, bob := newOwner(t, a, "alice"), newOwner(t, b, "bob")

	roomID, _ := alice.ok("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"})["room_id"].(string)
	bob.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name="+url.QueryEscape(a.ServerName), map[string]any{})

	alice.send(roomID, "hello from a", 1)
	waitFor(t, "B sees A's message", func() bool { return slices.Contains(bob.bodies(roomID), "hello from a") })
	bob.send(roomID, "hello from b", 1)
	waitFor(t, "A sees B's message", func() bool { return slices.Contains(alice.bodies(roomID), "hello from b") })

	// B goes away; A sends; R keeps A's transactions.
	b.Close()
	waitFor(t, "R sees B gone", func() bool { return !tr.srv.Connected("bob") })
	var sent []string
	for i := range 50 {
		body := fmt.Sprintf("while b was away %02d", i)
		alice.send(roomID, body, 100+i)
		sent = append(sent, body)
	}
	waitFor(t, "R holds A's transactions", func() bool {
		nd, err := tr.store.Node(context.Background(), "bob")
		return err == nil && nd.Queued > 0
	})

	b = hearthB(t, n, dirB, caFile, "")
	bob = newOwner(t, b, "bob")
	waitFor(t, "B has every message sent while it was away", func() bool {
		var away []string
		for _, s := range bob.bodies(roomID) {
			if strings.HasPrefix(s, "while b was away") {
				away = append(away, s)
			}
		}
		return len(away) >= len(sent)
	})
	var away []string
	for _, s := range bob.bodies(roomID) {
		if strings.HasPrefix(s, "while b was away") {
			away = append(away, s)
		}
	}
	if !slices.Equal(away, sent) {
		t.Errorf("B has\n%v\nwant, in order and once,\n%v", away, sent)
	}
	bob.send(roomID, "b is back", 2)
	waitFor(t, "A sees B again", func() bool { return slices.Contains(alice.bodies(roomID), "b is back") })
}
