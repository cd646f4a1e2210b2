package web

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"hearth.dev/hearth/core/clientapi"
	"hearth.dev/hearth/internal/hearthtest"
	"hearth.dev/hearth/services"
)

func TestTURNServer(t *testing.T) {
	const path = "/_matrix/client/v3/voip/turnServer"
	// Nothing configured: {}.
	plain := newTestServer(t)
	alice := plain.registerTestUser(t, "alice")
	rec := plain.record(t, "GET", path, alice.AccessToken, nil)
	if rec.Code != 200 || rec.Body.String() != "{}" {
		t.Errorf("without TURN: %d %s, want 200 {}", rec.Code, rec.Body)
	}
	status, body := plain.do(t, "GET", path, "", nil)
	wantError(t, "no token", status, body, 401, "M_MISSING_TOKEN")

	// Configured: credentials valid for the lifetime, made as the TURN
	// REST API says.
	const secret = "turn secret"
	clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	uris := []string{"turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"}
	g := hearthtest.Open(t, func(c *services.Config) {
		c.Client.Now = clock.Now
		c.Client.TURN = clientapi.TURNSettings{URIs: uris, SharedSecret: secret, UserLifetime: 2 * time.Hour}
	})
	ts := &testServer{Server: mustNewServer(t, Options{Services: g.Client}), Graph: g, DB: g.DB, Accounts: g.Accounts, Clock: clock}
	ts.net = newLoopback(t, func() http.Handler { return ts.Server })
	bob := ts.registerTestUser(t, "bob")
	status, body = ts.do(t, "GET", path, bob.AccessToken, nil)
	wantOK(t, "turnServer", status, body)
	wantUser := "1700007200:" + bob.UserID // now + 2 h, in seconds
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(wantUser))
	wantPass := base64.StdEncoding.EncodeToString(m.Sum(nil))
	got, _ := body["uris"].([]any)
	if body["username"] != wantUser || body["password"] != wantPass || body["ttl"] != 7200.0 || len(got) != 2 || got[0] != uris[0] || got[1] != uris[1] {
		t.Errorf("turnServer = %v, want username %s, password %s, ttl 7200, uris %v", body, wantUser, wantPass, uris)
	}
}
