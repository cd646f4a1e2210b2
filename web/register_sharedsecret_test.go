package web

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"hearth.dev/hearth/internal/hearthtest"
	"hearth.dev/hearth/services"
)

// newSharedSecretServer is a testServer with registration closed and
// registration_shared_secret set to secret.
func newSharedSecretServer(t *testing.T, secret string) *testServer {
	t.Helper()
	clock := &testClock{t: time.UnixMilli(1_700_000_000_000)}
	g := hearthtest.Open(t, func(c *services.Config) {
		c.Client.Now = clock.Now
		c.Client.Registration = "closed"
		c.Client.RegistrationSharedSecret = secret
	})
	ts := &testServer{Server: mustNewServer(t, Options{Services: g.Client}), Graph: g, DB: g.DB, Accounts: g.Accounts, Clock: clock}
	ts.net = newLoopback(t, func() http.Handler { return ts.Server })
	return ts
}

// macOf computes the MAC the way Synapse's register_new_matrix_user does,
// independently of the server's code.
func macOf(secret, nonce, user, password, adminWord string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(nonce + "\x00" + user + "\x00" + password + "\x00" + adminWord))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSharedSecretRegistration(t *testing.T) {
	const secret = "s3cret shared"
	const path = "/_synapse/admin/v1/register"
	ts := newSharedSecretServer(t, secret)
	nonce := func() string {
		t.Helper()
		status, body := ts.do(t, "GET", path, "", nil)
		wantOK(t, "GET nonce", status, body)
		n, _ := body["nonce"].(string)
		if n == "" {
			t.Fatalf("GET nonce = %v", body)
		}
		return n
	}
	reg := func(n, user, password string, admin bool, mac string) (int, map[string]any) {
		t.Helper()
		return ts.do(t, "POST", path, "", map[string]any{"nonce": n, "username": user, "password": password, "admin": admin, "mac": mac})
	}

	// An admin account, then a plain one; both can use their tokens.
	n := nonce()
	status, body := reg(n, "boss", "pw one", true, macOf(secret, n, "boss", "pw one", "admin"))
	wantOK(t, "register admin", status, body)
	if body["user_id"] != "@boss:"+testServerName || body["access_token"] == nil || body["device_id"] == nil || body["home_server"] != testServerName {
		t.Fatalf("register answer = %v", body)
	}
	bossToken := body["access_token"].(string)
	status, body = ts.do(t, "GET", "/_synapse/admin/v2/users/@boss:"+testServerName, bossToken, nil)
	if status != 200 || body["admin"] != true {
		t.Errorf("the registered admin: %d %v", status, body)
	}
	n = nonce()
	status, body = reg(n, "pleb", "pw two", false, macOf(secret, n, "pleb", "pw two", "notadmin"))
	wantOK(t, "register user", status, body)
	status, body = ts.do(t, "GET", "/_synapse/admin/v2/users/@pleb:"+testServerName, bossToken, nil)
	if status != 200 || body["admin"] != false {
		t.Errorf("the registered user: %d %v", status, body)
	}
	ts.login(t, "pleb", "pw two", "")

	// A nonce is good once.
	status, body = reg(n, "again", "pw", false, macOf(secret, n, "again", "pw", "notadmin"))
	wantError(t, "nonce used twice", status, body, 400, "M_INVALID_PARAM")
	// A wrong MAC (admin claimed under a notadmin MAC) is refused, and
	// uses the nonce up.
	n = nonce()
	status, body = reg(n, "sneak", "pw", true, macOf(secret, n, "sneak", "pw", "notadmin"))
	wantError(t, "wrong MAC", status, body, 403, "M_FORBIDDEN")
	status, body = reg(n, "sneak", "pw", false, macOf(secret, n, "sneak", "pw", "notadmin"))
	wantError(t, "nonce of a failed attempt", status, body, 400, "M_INVALID_PARAM")
	n = nonce()
	status, body = reg(n, "other", "pw", false, macOf("not the secret", n, "other", "pw", "notadmin"))
	wantError(t, "MAC under another secret", status, body, 403, "M_FORBIDDEN")
	// A nonce expires after a minute.
	n = nonce()
	ts.Clock.Advance(61 * time.Second)
	status, body = reg(n, "late", "pw", false, macOf(secret, n, "late", "pw", "notadmin"))
	wantError(t, "expired nonce", status, body, 400, "M_INVALID_PARAM")
	// A taken name.
	n = nonce()
	status, body = reg(n, "boss", "pw", false, macOf(secret, n, "boss", "pw", "notadmin"))
	wantError(t, "name in use", status, body, 400, "M_USER_IN_USE")

	for _, tt := range []struct {
		name string
		body any
		code string
	}{
		{"no nonce", map[string]any{"username": "x", "password": "y", "mac": "00"}, "M_MISSING_PARAM"},
		{"no mac", map[string]any{"nonce": "n", "username": "x", "password": "y"}, "M_MISSING_PARAM"},
		{"unknown nonce", map[string]any{"nonce": "nope", "username": "x", "password": "y", "mac": "00"}, "M_INVALID_PARAM"},
		{"not JSON", "{", "M_NOT_JSON"},
	} {
		status, body := ts.do(t, "POST", path, "", tt.body)
		wantError(t, tt.name, status, body, 400, tt.code)
	}

	// Without a secret the API is off.
	off := newTestServer(t)
	status, body = off.do(t, "GET", path, "", nil)
	wantError(t, "GET without a secret", status, body, 400, "M_UNKNOWN")
	status, body = off.do(t, "POST", path, "", map[string]any{"nonce": "n", "username": "x", "password": "y", "mac": "00"})
	wantError(t, "POST without a secret", status, body, 400, "M_UNKNOWN")
}
