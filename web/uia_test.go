package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// uiaStep runs one interactiveAuth step with auth as the request's auth
// object and returns the session (when complete) or the challenge.
func (ts *testServer) uiaStep(t *testing.T, req uiaRequest, auth any) (*uiaSession, *uiaChallenge) {
	t.Helper()
	var raw json.RawMessage
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			t.Fatal(err)
		}
		raw = b
	}
	r := httptest.NewRequest("POST", "/", nil)
	done, err := ts.Server.interactiveAuth(r, raw, req)
	if err == nil {
		return done, nil
	}
	var c *uiaChallenge
	if !errors.As(err, &c) {
		t.Fatalf("interactiveAuth: %v, want a session or a challenge", err)
	}
	return nil, c
}

func TestUIAMultiStage(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	req := uiaRequest{op: "test", flows: [][]string{{authDummy, authPassword}}, userID: alice.UserID}

	_, c := ts.uiaStep(t, req, nil)
	if c == nil || c.Session == "" || c.ErrCode != "" || len(c.Completed) != 0 {
		t.Fatalf("no auth: %+v", c)
	}
	if diff := cmp.Diff([]uiaFlow{{Stages: []string{authDummy, authPassword}}}, c.Flows); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
	session := c.Session
	steps := []struct {
		name          string
		auth          map[string]any
		wantCode      string
		wantCompleted []string
	}{
		{"stage out of order", passwordAuth(session, "alice", testPassword), "M_FORBIDDEN", nil},
		{"unknown type", map[string]any{"type": "m.login.foo", "session": session}, "M_FORBIDDEN", nil},
		{"dummy", map[string]any{"type": authDummy, "session": session}, "", []string{authDummy}},
		{"dummy again", map[string]any{"type": authDummy, "session": session}, "", []string{authDummy}},
		{"session only", map[string]any{"session": session}, "", []string{authDummy}},
		{"wrong password", passwordAuth(session, "alice", "nope"), "M_FORBIDDEN", []string{authDummy}},
		{"password without identifier", map[string]any{"type": authPassword, "password": testPassword, "session": session}, "M_MISSING_PARAM", []string{authDummy}},
	}
	for _, st := range steps {
		done, c := ts.uiaStep(t, req, st.auth)
		if done != nil {
			t.Fatalf("%s: completed too early", st.name)
		}
		if c.Session != session || c.ErrCode != st.wantCode || !cmp.Equal(c.Completed, st.wantCompleted) {
			t.Errorf("%s: challenge %+v, want session %s, errcode %q, completed %v", st.name, c, session, st.wantCode, st.wantCompleted)
		}
	}
	done, c := ts.uiaStep(t, req, passwordAuth(session, "@alice:example.org", testPassword))
	if done == nil {
		t.Fatalf("right password: challenge %+v", c)
	}
	if done.userID != alice.UserID {
		t.Errorf("session user %q", done.userID)
	}
	// A completed session answers success to a retried stage until the
	// request succeeds.
	if again, c := ts.uiaStep(t, req, passwordAuth(session, "alice", "anything")); again != done {
		t.Errorf("retry on a complete session: %+v", c)
	}
	ts.Server.acct.uia.finish(done)
	_, c = ts.uiaStep(t, req, map[string]any{"session": session})
	if c == nil || c.Session == session {
		t.Errorf("finished session reused: %+v", c)
	}
}

func TestUIASessionBinding(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	bob := ts.registerTestUser(t, "bob")
	reqA := uiaRequest{op: "a", flows: passwordFlows, userID: alice.UserID}
	_, c := ts.uiaStep(t, reqA, nil)
	session := c.Session

	// Another endpoint, or another user, does not get this session.
	_, c = ts.uiaStep(t, uiaRequest{op: "b", flows: passwordFlows, userID: alice.UserID}, map[string]any{"session": session})
	if c.Session == session {
		t.Error("session of endpoint a served endpoint b")
	}
	_, c = ts.uiaStep(t, uiaRequest{op: "a", flows: passwordFlows, userID: bob.UserID}, map[string]any{"session": session})
	if c.Session == session {
		t.Error("alice's session served bob")
	}
	// Expired sessions are forgotten.
	ts.Clock.Advance(uiaSessionLifetime + 1)
	_, c = ts.uiaStep(t, reqA, map[string]any{"session": session})
	if c.Session == session {
		t.Error("expired session reused")
	}
	// An unknown session with a one-stage flow completes in this request.
	done, _ := ts.uiaStep(t, uiaRequest{op: "d", flows: [][]string{{authDummy}}}, map[string]any{"type": authDummy, "session": "made-up"})
	if done == nil {
		t.Error("dummy with an unknown session did not complete")
	}
	// Bad auth JSON.
	r := httptest.NewRequest("POST", "/", nil)
	if _, err := ts.Server.interactiveAuth(r, json.RawMessage(`{"type": 1}`), reqA); !errors.Is(err, core.ErrBadJSON) {
		t.Errorf("auth with a wrong type: %v, want M_BAD_JSON", err)
	}
}

func TestUIAExpiryReleasesRegistrationToken(t *testing.T) {
	ts := newTestServer(t, withRegistration("token"))
	ts.registerTestUser(t, "owner")
	one := 1
	ctx := context.Background()
	if err := ts.Accounts.CreateRegistrationToken(ctx, core.RegistrationToken{Token: "single", UsesAllowed: &one}); err != nil {
		t.Fatal(err)
	}
	// Two-stage flow so the token stage leaves the session unfinished.
	req := uiaRequest{op: "register", flows: [][]string{{authRegistrationToken, authDummy}}}
	_, c := ts.uiaStep(t, req, map[string]any{"type": authRegistrationToken, "token": "single"})
	if c == nil || !cmp.Equal(c.Completed, []string{authRegistrationToken}) {
		t.Fatalf("token stage: %+v", c)
	}
	if ok, _ := ts.Accounts.RegistrationTokenValid(ctx, "single"); ok {
		t.Fatal("token with its only use pending is valid")
	}
	ts.Clock.Advance(uiaSessionLifetime + 1)
	ts.uiaStep(t, req, nil) // starting a session sweeps the expired one
	if ok, _ := ts.Accounts.RegistrationTokenValid(ctx, "single"); !ok {
		t.Error("an abandoned session kept the token's use")
	}
}

func TestUIAConcurrentAttempts(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	req := uiaRequest{op: "c", flows: passwordFlows, userID: alice.UserID}
	_, c := ts.uiaStep(t, req, nil)
	var wg sync.WaitGroup
	results := make([]*uiaSession, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := "wrong"
			if i%2 == 0 {
				pw = testPassword
			}
			raw, _ := json.Marshal(passwordAuth(c.Session, "alice", pw))
			done, _ := ts.Server.interactiveAuth(httptest.NewRequest("POST", "/", nil), raw, req)
			results[i] = done
		}()
	}
	wg.Wait()
	for i, done := range results {
		if i%2 == 0 && done == nil {
			t.Errorf("attempt %d with the right password did not complete", i)
		}
	}
}
