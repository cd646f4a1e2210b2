package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
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
		// Other accounts each time, so only the address's bucket runs dry.
		status, body := ts.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("nobody"+strconv.Itoa(i), "wrong"))
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
	burst := int(actionRates[actionRegister].burst)
	// Rounds of user-interactive authentication and availability checks,
	// as a client makes them while the user fills in the form, do not use
	// up the registrations.
	for i := range 2 * burst {
		status, body := ts.do(t, "POST", registerPath, "", map[string]any{})
		if status != 401 {
			t.Fatalf("registration round %d: %d %v", i, status, body)
		}
		status, body = ts.do(t, "GET", "/_matrix/client/v3/register/available?username=u"+strconv.Itoa(i), "", nil)
		wantOK(t, "availability "+strconv.Itoa(i), status, body)
	}
	register := func(i int) (int, map[string]any) {
		return ts.do(t, "POST", registerPath, "", map[string]any{"username": "u" + strconv.Itoa(i), "password": "pw",
			"auth": map[string]any{"type": authDummy}})
	}
	for i := range burst {
		status, body := register(i)
		wantOK(t, "registration "+strconv.Itoa(i), status, body)
	}
	status, body := register(burst)
	wantError(t, "registration past the burst", status, body, 429, "M_LIMIT_EXCEEDED")
	// Even the first round of a new registration is refused now.
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{})
	wantError(t, "registration round past the burst", status, body, 429, "M_LIMIT_EXCEEDED")
	// Availability checks have their own bucket.
	limited := 0
	for i := range int(actionRates[actionRegisterQuery].burst) + 1 {
		status, body = ts.do(t, "GET", "/_matrix/client/v3/register/available?username=v"+strconv.Itoa(i), "", nil)
		if status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Error("availability checks past their burst were not limited")
	}
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
		l.take(bucketKey{who: strconv.Itoa(i), action: actionLogin}, rate, now, true)
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

// loginFrom logs in as user with password from the address ip, with the
// X-Forwarded-For header xff if not empty.
func (ts *testServer) loginFrom(t *testing.T, ip, xff, user, password string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(passwordLogin(user, password))
	req := httptest.NewRequest("POST", "/_matrix/client/v3/login", bytes.NewReader(body))
	req.RemoteAddr = net.JoinHostPort(ip, "4321")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	ts.Server.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// TestLoginFailedAttemptsPerAccount checks the per-account limit on wrong
// passwords: guesses spread over many addresses run it dry, after which
// even the right password is refused unchecked until it refills; other
// accounts are not affected.
func TestLoginFailedAttemptsPerAccount(t *testing.T) {
	ts := newTestServer(t, withRateLimits)
	ts.registerTestUser(t, "alice")
	ts.registerTestUser(t, "bob")
	burst := int(actionRates[actionLoginFailed].burst)
	for i := range burst {
		status, body := ts.loginFrom(t, "198.51.100."+strconv.Itoa(i+1), "", "alice", "guess"+strconv.Itoa(i))
		wantError(t, "wrong password "+strconv.Itoa(i), status, body, 403, "M_FORBIDDEN")
	}
	status, body := ts.loginFrom(t, "198.51.100.99", "", "alice", testPassword)
	wantError(t, "alice's right password after the guesses", status, body, 429, "M_LIMIT_EXCEEDED")
	status, body = ts.loginFrom(t, "198.51.100.99", "", "bob", testPassword)
	wantOK(t, "bob from the same address", status, body)
	// The password stage of user-interactive auth counts too.
	status, body = ts.do(t, "POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "x",
		"auth": passwordAuth("", "alice", testPassword)})
	wantError(t, "alice's password stage after the guesses", status, body, 429, "M_LIMIT_EXCEEDED")

	ts.Clock.Advance(10 * time.Second)
	status, body = ts.loginFrom(t, "198.51.100.99", "", "alice", testPassword)
	wantOK(t, "alice after the bucket refilled", status, body)
	// Right passwords do not use the bucket up.
	for i := range burst + 2 {
		ts.Clock.Advance(10 * time.Second) // for the address's bucket
		status, body = ts.loginFrom(t, "198.51.100.99", "", "alice", testPassword)
		wantOK(t, "right password "+strconv.Itoa(i), status, body)
	}
}

// TestClientIPTrustedProxies checks which address a request is counted
// against: X-Forwarded-For is believed only from a trusted proxy, and then
// only up to the nearest address that is not a trusted proxy itself.
func TestClientIPTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, peer, xff, want string
		proxies               []netip.Prefix
	}{
		{"no trusted proxies: the header is ignored", "10.1.2.3", "203.0.113.7", "10.1.2.3", nil},
		{"untrusted peer: the header is ignored", "192.0.2.5", "203.0.113.7", "192.0.2.5", trusted},
		{"trusted peer", "10.1.2.3", "203.0.113.7", "203.0.113.7", trusted},
		{"chain: the nearest untrusted hop", "10.1.2.3", "198.51.100.1, 203.0.113.7, 10.9.9.9", "203.0.113.7", trusted},
		{"two header lines", "10.1.2.3", "198.51.100.1", "198.51.100.1", trusted},
		{"only proxies: the farthest", "10.1.2.3", "10.5.5.5, 10.6.6.6", "10.5.5.5", trusted},
		{"garbage: the peer", "10.1.2.3", "nonsense", "10.1.2.3", trusted},
		{"garbage past a hop: that hop", "10.1.2.3", "evil, 10.4.4.4", "10.4.4.4", trusted},
		{"no header", "10.1.2.3", "", "10.1.2.3", trusted},
		{"IPv6 proxy", "fd00::1", "2001:db8::7", "2001:db8::7", trusted},
		{"IPv4-mapped peer", "::ffff:10.1.2.3", "203.0.113.8", "203.0.113.8", trusted},
	}
	for _, tt := range tests {
		s := &Server{}
		s.opts.TrustedProxies = tt.proxies
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = net.JoinHostPort(tt.peer, "4321")
		if tt.xff != "" {
			r.Header.Add("X-Forwarded-For", tt.xff)
		}
		if tt.name == "two header lines" {
			r.Header.Set("X-Forwarded-For", "10.7.7.7")
			r.Header.Add("X-Forwarded-For", "198.51.100.1, 10.8.8.8")
		}
		if got := s.clientIP(r); got != tt.want {
			t.Errorf("%s: clientIP(peer %s, X-Forwarded-For %q) = %s, want %s", tt.name, tt.peer, r.Header.Values("X-Forwarded-For"), got, tt.want)
		}
	}
}

// TestRateLimitForwardedFor checks rate limits through the whole server:
// a client cannot escape its address's bucket by writing X-Forwarded-For,
// and clients behind a trusted proxy get buckets of their own.
func TestRateLimitForwardedFor(t *testing.T) {
	ts := newTestServer(t, withRateLimits, func(o *Options, _ *storage.DB) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	burst := int(actionRates[actionLogin].burst)
	for i := range burst {
		status, body := ts.loginFrom(t, "192.0.2.1", "203.0.113."+strconv.Itoa(i), "nobody"+strconv.Itoa(i), "x")
		wantError(t, "spoofing client "+strconv.Itoa(i), status, body, 403, "M_FORBIDDEN")
	}
	status, body := ts.loginFrom(t, "192.0.2.1", "203.0.113.200", "nobody", "x")
	wantError(t, "spoofing client past its burst", status, body, 429, "M_LIMIT_EXCEEDED")

	for i := range burst {
		status, body := ts.loginFrom(t, "10.0.0.1", "203.0.113.1", "nobody"+strconv.Itoa(i), "x")
		wantError(t, "client A behind the proxy "+strconv.Itoa(i), status, body, 403, "M_FORBIDDEN")
	}
	status, body = ts.loginFrom(t, "10.0.0.1", "203.0.113.1", "nobody", "x")
	wantError(t, "client A past its burst", status, body, 429, "M_LIMIT_EXCEEDED")
	status, body = ts.loginFrom(t, "10.0.0.1", "203.0.113.2", "nobody", "x")
	wantError(t, "client B behind the same proxy", status, body, 403, "M_FORBIDDEN")
}

// FuzzClientIP feeds arbitrary X-Forwarded-For headers to clientIP: never
// a panic; from an untrusted peer always the peer; from a trusted one the
// peer or an address written in the header.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []string{"", "203.0.113.7", "198.51.100.1, 203.0.113.7, 10.9.9.9", "nonsense", ",,,", "::ffff:1.2.3.4", "[::1]", "1.2.3.4:80", "fe80::1%eth0"} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	s := &Server{}
	s.opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff string, trustedPeer bool) {
		peer := "192.0.2.5"
		if trustedPeer {
			peer = "10.1.2.3"
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer + ":4321"
		r.Header.Set("X-Forwarded-For", xff)
		got := s.clientIP(r)
		if got == peer {
			return
		}
		if !trustedPeer {
			t.Fatalf("untrusted peer, X-Forwarded-For %q: clientIP = %q", xff, got)
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("X-Forwarded-For %q: clientIP = %q, not an address", xff, got)
		}
		found := false
		for _, hop := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && a.Unmap().String() == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("X-Forwarded-For %q: clientIP = %q, which it does not hold", xff, got)
		}
	})
}
