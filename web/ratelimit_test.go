package web

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

func withRateLimits(o *Options, _ *storage.DB) { o.RateLimits = true }

func TestLoginRateLimit(t *testing.T) {
	ts := newTestServer(t, withRateLimits)
	ts.registerTestUser(t, "alice")
	burst := int(actionRates[actionLogin].burst)
	for i := range burst {
		status, body := ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "wrong"))
		wantError(t, "login within the burst "+strconv.Itoa(i), status, body, 403, "M_FORBIDDEN")
	}
	rec := ts.record(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", testPassword))
	if rec.Code != 429 {
		t.Fatalf("login past the burst: %d %s, want 429", rec.Code, rec.Body)
	}
	status, body := ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", testPassword))
	wantError(t, "login past the burst", status, body, 429, "M_LIMIT_EXCEEDED")
	ms, ok := body["retry_after_ms"].(float64)
	if !ok || ms <= 0 || ms > 10000 {
		t.Errorf("retry_after_ms = %v", body["retry_after_ms"])
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	ts.Clock.Advance(time.Duration(ms) * time.Millisecond)
	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", testPassword))
	wantOK(t, "login after waiting", status, body)
}

func TestRegisterRateLimit(t *testing.T) {
	ts := newTestServer(t, withRateLimits)
	for i := range int(actionRates[actionRegister].burst) {
		status, body := ts.do(t, "POST", registerPath, "", map[string]any{})
		if status != 401 {
			t.Fatalf("registration %d: %d %v", i, status, body)
		}
	}
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{})
	wantError(t, "registration past the burst", status, body, 429, "M_LIMIT_EXCEEDED")
	status, body = ts.do(t, "GET", "/_matrix/client/v3/register/available?username=x", "", nil)
	wantError(t, "availability past the burst", status, body, 429, "M_LIMIT_EXCEEDED")
}

func TestRateLimitKeys(t *testing.T) {
	ts := newTestServer(t, withRateLimits)
	alice := ts.registerTestUser(t, "alice")
	bob := ts.registerTestUser(t, "bob")
	limited := func(token, ip string) bool {
		r := httptest.NewRequest("PUT", "/", nil)
		r.RemoteAddr = ip + ":1234"
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		err := ts.Server.rateLimit(nil, r, actionMessage)
		if err != nil && !errors.Is(err, core.ErrLimitExceeded) {
			t.Fatalf("rateLimit: %v", err)
		}
		return err != nil
	}
	burst := int(actionRates[actionMessage].burst)
	// One user's bucket is shared across addresses...
	for i := range burst {
		if limited(alice.AccessToken, "192.0.2."+strconv.Itoa(i%3+1)) {
			t.Fatalf("message %d within the burst was limited", i)
		}
	}
	if !limited(alice.AccessToken, "192.0.2.9") {
		t.Error("alice past the burst from a new address was not limited")
	}
	// ...and not shared with another user or an unauthenticated client.
	if limited(bob.AccessToken, "192.0.2.1") {
		t.Error("bob limited by alice's sends")
	}
	if limited("", "192.0.2.1") {
		t.Error("an unauthenticated client limited by alice's sends")
	}
	// Unknown actions are never limited.
	r := httptest.NewRequest("GET", "/", nil)
	for range 100 {
		if err := ts.Server.rateLimit(nil, r, "no-such-action"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRateLimitsOff(t *testing.T) {
	ts := newTestServer(t)
	ts.registerTestUser(t, "alice")
	for i := range 3 * int(actionRates[actionLogin].burst) {
		status, body := ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", "wrong"))
		wantError(t, "login with rate limits off "+strconv.Itoa(i), status, body, 403, "M_FORBIDDEN")
	}
}

func TestRateLimiterBound(t *testing.T) {
	var l rateLimiter
	now := time.Unix(0, 0)
	rate := actionRates[actionLogin]
	for i := range maxBuckets + 10 {
		l.take(bucketKey{who: strconv.Itoa(i), action: actionLogin}, rate, now)
	}
	if len(l.buckets) > maxBuckets {
		t.Errorf("%d buckets, want at most %d", len(l.buckets), maxBuckets)
	}
}

func TestLoginTokenRateLimit(t *testing.T) {
	ts := newTestServer(t, withRateLimits)
	alice := ts.registerTestUser(t, "alice")
	const path = "/_matrix/client/v1/login/get_token"
	get := func() (int, map[string]any) {
		return ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", testPassword)})
	}
	for i := range int(actionRates[actionLoginToken].burst) {
		status, body := get()
		wantOK(t, "login token "+strconv.Itoa(i), status, body)
		// Keep the password stage's login bucket from running dry.
		ts.Clock.Advance(10 * time.Second)
	}
	status, body := get()
	wantError(t, "login token past the burst", status, body, 429, "M_LIMIT_EXCEEDED")
	ts.Clock.Advance(time.Minute)
	status, body = get()
	wantOK(t, "login token a minute later", status, body)
}
