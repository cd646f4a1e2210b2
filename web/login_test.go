package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/storage"
)

// passwordLogin is a POST /login body for m.login.password.
func passwordLogin(user, password string) map[string]any {
	return map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   password,
	}
}

// login logs user in through POST /login (on deviceID, or a new device).
func (ts *testServer) login(tb testing.TB, user, password, deviceID string) testUser {
	tb.Helper()
	req := passwordLogin(user, password)
	if deviceID != "" {
		req["device_id"] = deviceID
	}
	status, body := ts.do(tb, "POST", "/_matrix/client/v3/login", "", req)
	if status != http.StatusOK {
		tb.Fatalf("login %s: %d %v", user, status, body)
	}
	return testUser{UserID: body["user_id"].(string), DeviceID: body["device_id"].(string), AccessToken: body["access_token"].(string)}
}

func TestGetLogin(t *testing.T) {
	ts := newTestServer(t)
	status, body := ts.do(t, "GET", "/_matrix/client/v3/login", "", nil)
	wantOK(t, "GET /login", status, body)
	var types []string
	for _, f := range body["flows"].([]any) {
		f := f.(map[string]any)
		types = append(types, f["type"].(string))
		if f["type"] == "m.login.token" && f["get_login_token"] != true {
			t.Errorf("m.login.token flow without get_login_token: %v", f)
		}
	}
	if strings.Join(types, ",") != "m.login.password,m.login.token" {
		t.Errorf("login flows = %v", types)
	}
}

func TestPasswordLogin(t *testing.T) {
	ts := newTestServer(t)
	ts.registerTestUser(t, "alice")
	const path = "/_matrix/client/v3/login"
	tests := []struct {
		name string
		body any
	}{
		{"localpart", passwordLogin("alice", testPassword)},
		{"user ID", passwordLogin("@alice:example.org", testPassword)},
		{"upper-case localpart", passwordLogin("Alice", testPassword)},
		{"deprecated user field", map[string]any{"type": "m.login.password", "user": "alice", "password": testPassword}},
	}
	for _, tt := range tests {
		status, body := ts.do(t, "POST", path, "", tt.body)
		wantOK(t, tt.name, status, body)
		if body["user_id"] != "@alice:example.org" || body["home_server"] != "example.org" ||
			!strings.HasPrefix(body["access_token"].(string), "hat_") || body["device_id"] == "" {
			t.Errorf("%s: answer %v", tt.name, body)
		}
		if _, ok := body["refresh_token"]; ok {
			t.Errorf("%s: refresh token given without refresh_token: true", tt.name)
		}
		if status, _ := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", body["access_token"].(string), nil); status != 200 {
			t.Errorf("%s: token does not work: %d", tt.name, status)
		}
	}

	errTests := []struct {
		name       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"not JSON", "{", 400, "M_NOT_JSON"},
		{"wrong JSON type", `{"type": 1}`, 400, "M_BAD_JSON"},
		{"wrong password", passwordLogin("alice", "nope"), 403, "M_FORBIDDEN"},
		{"unknown user", passwordLogin("nobody", testPassword), 403, "M_FORBIDDEN"},
		{"other server", passwordLogin("@alice:elsewhere.org", testPassword), 403, "M_FORBIDDEN"},
		{"not a user ID", passwordLogin("@", testPassword), 403, "M_FORBIDDEN"},
		{"third-party id", map[string]any{"type": "m.login.password", "password": "x",
			"identifier": map[string]any{"type": "m.id.thirdparty", "medium": "email", "address": "a@b.c"}}, 403, "M_FORBIDDEN"},
		{"no identifier", map[string]any{"type": "m.login.password", "password": "x"}, 400, "M_MISSING_PARAM"},
		{"no type", map[string]any{"user": "alice", "password": testPassword}, 400, "M_MISSING_PARAM"},
		{"unknown type", map[string]any{"type": "m.login.foo"}, 400, "M_UNKNOWN"},
		{"unknown identifier type", map[string]any{"type": "m.login.password", "password": "x",
			"identifier": map[string]any{"type": "m.id.foo"}}, 400, "M_UNRECOGNIZED"},
		{"bad device ID", map[string]any{"type": "m.login.password", "user": "alice", "password": testPassword,
			"device_id": "a\nb"}, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range errTests {
		status, body := ts.do(t, "POST", path, "", tt.body)
		wantError(t, tt.name, status, body, tt.wantStatus, tt.wantCode)
	}
}

func TestLoginDeviceReuse(t *testing.T) {
	ts := newTestServer(t)
	ts.registerTestUser(t, "alice")
	status, body := ts.do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "user": "alice", "password": testPassword,
		"device_id": "MYDEVICE", "initial_device_display_name": "Laptop",
	})
	wantOK(t, "login with device", status, body)
	if body["device_id"] != "MYDEVICE" {
		t.Errorf("device_id = %v, want MYDEVICE", body["device_id"])
	}
	first := body["access_token"].(string)
	again := ts.login(t, "alice", testPassword, "MYDEVICE")
	if again.DeviceID != "MYDEVICE" {
		t.Errorf("second login device = %q", again.DeviceID)
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/devices", again.AccessToken, nil)
	wantOK(t, "devices", status, body)
	devs := body["devices"].([]any)
	// registerTestUser made one device, the logins reused MYDEVICE.
	if len(devs) != 2 {
		t.Errorf("devices = %v, want 2", devs)
	}
	for _, d := range devs {
		d := d.(map[string]any)
		if d["device_id"] == "MYDEVICE" && d["display_name"] != "Laptop" {
			t.Errorf("reused device's display name = %v, want Laptop", d["display_name"])
		}
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", first, nil)
	wantError(t, "token replaced by a new login on its device", status, body, 401, "M_UNKNOWN_TOKEN")
}

func TestLoginToken(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	const path = "/_matrix/client/v1/login/get_token"
	status, body := ts.do(t, "POST", path, alice.AccessToken, map[string]any{})
	if status != 401 || len(flowsOf(body)) != 1 {
		t.Fatalf("get_token without auth: %d %v, want a challenge", status, body)
	}
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", "bad")})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("get_token with a wrong password: %d %v", status, body)
	}
	status, body = ts.do(t, "POST", path, "", map[string]any{})
	wantError(t, "get_token without token", status, body, 401, "M_MISSING_TOKEN")
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", testPassword)})
	wantOK(t, "get_token", status, body)
	if body["expires_in_ms"] != float64(120000) {
		t.Errorf("expires_in_ms = %v, want 120000", body["expires_in_ms"])
	}
	token := body["login_token"].(string)

	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.token", "token": token})
	wantOK(t, "m.login.token", status, body)
	if body["user_id"] != alice.UserID {
		t.Errorf("token login as %v, want %s", body["user_id"], alice.UserID)
	}
	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.token", "token": token})
	wantError(t, "second use of a login token", status, body, 403, "M_FORBIDDEN")
	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.token"})
	wantError(t, "m.login.token without token", status, body, 400, "M_MISSING_PARAM")

	// Expired.
	status, body = ts.do(t, "POST", path, alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", testPassword)})
	wantOK(t, "get_token", status, body)
	ts.Clock.Advance(loginTokenLifetime)
	status, body = ts.do(t, "POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.token", "token": body["login_token"]})
	wantError(t, "expired login token", status, body, 403, "M_FORBIDDEN")
}

func TestRefreshAndSoftLogout(t *testing.T) {
	ts := newTestServer(t)
	ts.registerTestUser(t, "alice")
	req := passwordLogin("alice", testPassword)
	req["refresh_token"] = true
	status, body := ts.do(t, "POST", "/_matrix/client/v3/login", "", req)
	wantOK(t, "refreshable login", status, body)
	if body["expires_in_ms"] != float64(storage.DefaultAccessTokenLifetime.Milliseconds()) || body["refresh_token"] == nil {
		t.Fatalf("refreshable login answer: %v", body)
	}
	access, refresh := body["access_token"].(string), body["refresh_token"].(string)

	ts.Clock.Advance(storage.DefaultAccessTokenLifetime + time.Second)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", access, nil)
	wantError(t, "expired access token", status, body, 401, "M_UNKNOWN_TOKEN")
	if body["soft_logout"] != true {
		t.Errorf("expired access token without soft_logout: %v", body)
	}

	const path = "/_matrix/client/v3/refresh"
	status, body = ts.do(t, "POST", path, "", map[string]any{"refresh_token": refresh})
	wantOK(t, "refresh", status, body)
	newAccess, newRefresh := body["access_token"].(string), body["refresh_token"].(string)
	if newRefresh == refresh || body["expires_in_ms"] == nil {
		t.Errorf("refresh answer: %v", body)
	}
	if status, _ := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", newAccess, nil); status != 200 {
		t.Errorf("refreshed token: %d", status)
	}
	// The new token was used: the old refresh token is gone.
	status, body = ts.do(t, "POST", path, "", map[string]any{"refresh_token": refresh})
	wantError(t, "used refresh token", status, body, 401, "M_UNKNOWN_TOKEN")

	status, body = ts.do(t, "POST", path, "", map[string]any{})
	wantError(t, "no refresh token", status, body, 400, "M_MISSING_PARAM")
	status, body = ts.do(t, "POST", path, "", "[")
	wantError(t, "bad JSON", status, body, 400, "M_NOT_JSON")
	status, body = ts.do(t, "POST", path, "", map[string]any{"refresh_token": "hrt_unknown"})
	wantError(t, "unknown refresh token", status, body, 401, "M_UNKNOWN_TOKEN")
}

func TestLogout(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	second := ts.login(t, "alice", testPassword, "")
	third := ts.login(t, "alice", testPassword, "")

	status, body := ts.do(t, "POST", "/_matrix/client/v3/logout", "", nil)
	wantError(t, "logout without token", status, body, 401, "M_MISSING_TOKEN")
	status, body = ts.do(t, "POST", "/_matrix/client/v3/logout", "hat_nope", nil)
	wantError(t, "logout with unknown token", status, body, 401, "M_UNKNOWN_TOKEN")

	status, body = ts.do(t, "POST", "/_matrix/client/v3/logout", alice.AccessToken, nil)
	wantOK(t, "logout", status, body)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", alice.AccessToken, nil)
	wantError(t, "after logout", status, body, 401, "M_UNKNOWN_TOKEN")
	if _, err := ts.Accounts.Device(context.Background(), alice.UserID, alice.DeviceID); err == nil {
		t.Error("logout kept the device")
	}
	if status, _ := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", second.AccessToken, nil); status != 200 {
		t.Errorf("other device after logout: %d", status)
	}
	status, body = ts.do(t, "POST", "/_matrix/client/v3/logout/all", second.AccessToken, nil)
	wantOK(t, "logout all", status, body)
	for _, tok := range []string{second.AccessToken, third.AccessToken} {
		status, body := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil)
		wantError(t, "after logout all", status, body, 401, "M_UNKNOWN_TOKEN")
	}
	status, body = ts.do(t, "POST", "/_matrix/client/v3/logout/all", second.AccessToken, nil)
	wantError(t, "logout all with a dead token", status, body, 401, "M_UNKNOWN_TOKEN")
}
