package web

import (
	"context"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

const registerPath = "/_matrix/client/v3/register"

// withRegistration sets the registration mode of a test server.
func withRegistration(mode string) func(*Options, *storage.DB) {
	return func(o *Options, _ *storage.DB) { o.Registration = mode }
}

func TestRegisterDummyInOneRequest(t *testing.T) {
	// matrix-nio: m.login.dummy without a session, in one request.
	ts := newTestServer(t)
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{
		"username": "alice", "password": "pw", "auth": map[string]any{"type": authDummy},
		"initial_device_display_name": "nio",
	})
	wantOK(t, "register", status, body)
	if body["user_id"] != "@alice:example.org" || body["home_server"] != "example.org" || body["device_id"] == nil {
		t.Errorf("register answer: %v", body)
	}
	tok := body["access_token"].(string)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil)
	wantOK(t, "whoami", status, body)
	if body["user_id"] != "@alice:example.org" {
		t.Errorf("whoami: %v", body)
	}
	d, err := ts.Accounts.Device(context.Background(), "@alice:example.org", body["device_id"].(string))
	if err != nil || d.DisplayName != "nio" {
		t.Errorf("device = %+v, %v; want display name nio", d, err)
	}
	a, _ := ts.Accounts.Account(context.Background(), "@alice:example.org")
	if a.Admin {
		t.Error("an open registration made an admin")
	}
	if err := ts.Accounts.CheckPassword(context.Background(), "@alice:example.org", "pw"); err != nil {
		t.Errorf("password: %v", err)
	}
}

func TestRegisterTwoSteps(t *testing.T) {
	// matrix-js-sdk: first without auth, then with the session.
	ts := newTestServer(t)
	ts.registerTestUser(t, "owner")
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"username": "Bob", "password": "pw"})
	if status != 401 {
		t.Fatalf("first step: %d %v, want 401", status, body)
	}
	session, _ := body["session"].(string)
	if session == "" || body["errcode"] != nil || body["params"] == nil {
		t.Errorf("challenge: %v", body)
	}
	if got := flowsOf(body); len(got) != 1 || got[0] != authDummy {
		t.Errorf("open registration flows = %v, want [m.login.dummy]", got)
	}
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "Bob", "password": "pw",
		"auth": map[string]any{"type": authDummy, "session": session}, "refresh_token": true, "device_id": "BOBDEV"})
	wantOK(t, "second step", status, body)
	if body["user_id"] != "@bob:example.org" || body["device_id"] != "BOBDEV" || body["refresh_token"] == nil || body["expires_in_ms"] == nil {
		t.Errorf("register answer: %v", body)
	}
}

func TestRegisterProbeWithEmptyBody(t *testing.T) {
	// Element asks for the flows with an empty body.
	ts := newTestServer(t)
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{})
	if status != 401 || body["session"] == nil {
		t.Errorf("empty registration: %d %v, want a challenge", status, body)
	}
}

func TestRegisterInhibitLoginAndGeneratedName(t *testing.T) {
	ts := newTestServer(t)
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"password": "pw", "inhibit_login": true,
		"auth": map[string]any{"type": authDummy}})
	wantOK(t, "register", status, body)
	if _, ok := body["access_token"]; ok {
		t.Errorf("inhibit_login answered a token: %v", body)
	}
	if _, ok := body["device_id"]; ok {
		t.Errorf("inhibit_login answered a device: %v", body)
	}
	uid, _ := body["user_id"].(string)
	a, err := ts.Accounts.Account(context.Background(), uid)
	if err != nil {
		t.Fatalf("generated user %q: %v", uid, err)
	}
	devs, _ := ts.Accounts.Devices(context.Background(), a.UserID)
	if len(devs) != 0 {
		t.Errorf("inhibit_login made devices: %v", devs)
	}
}

func TestRegisterErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.registerTestUser(t, "taken")
	dummy := map[string]any{"type": authDummy}
	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"guest", registerPath + "?kind=guest", map[string]any{}, 403, "M_GUEST_ACCESS_FORBIDDEN"},
		{"unknown kind", registerPath + "?kind=robot", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"not JSON", registerPath, "{{", 400, "M_NOT_JSON"},
		{"bad JSON", registerPath, `{"username": 7}`, 400, "M_BAD_JSON"},
		{"bad auth JSON", registerPath, `{"auth": {"type": 7}}`, 400, "M_BAD_JSON"},
		{"taken", registerPath, map[string]any{"username": "taken", "password": "pw", "auth": dummy}, 400, "M_USER_IN_USE"},
		{"taken, other case", registerPath, map[string]any{"username": "TAKEN", "password": "pw"}, 400, "M_USER_IN_USE"},
		{"bad name", registerPath, map[string]any{"username": "no spaces", "password": "pw", "auth": dummy}, 400, "M_INVALID_USERNAME"},
		{"bad name colon", registerPath, map[string]any{"username": "a:b", "password": "pw"}, 400, "M_INVALID_USERNAME"},
		{"no password", registerPath, map[string]any{"username": "nopass", "auth": dummy}, 400, "M_MISSING_PARAM"},
		{"bad device ID", registerPath, map[string]any{"username": "dev", "password": "pw", "device_id": "a\x00", "auth": dummy}, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		status, body := ts.do(t, "POST", tt.path, "", tt.body)
		wantError(t, tt.name, status, body, tt.wantStatus, tt.wantCode)
	}
	// The refused registrations created nothing.
	if _, err := ts.Accounts.Account(context.Background(), "@nopass:example.org"); err == nil {
		t.Error("registration without password created an account")
	}
}

func TestRegisterClosed(t *testing.T) {
	ts := newTestServer(t, withRegistration("closed"))
	ts.registerTestUser(t, "owner")
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"username": "x", "password": "pw", "auth": map[string]any{"type": authDummy}})
	wantError(t, "closed registration", status, body, 403, "M_FORBIDDEN")
	status, body = ts.do(t, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=abc", "", nil)
	wantError(t, "validity while closed", status, body, 403, "M_FORBIDDEN")
}

func TestRegisterWithSetupToken(t *testing.T) {
	ts := newTestServer(t, withRegistration("closed"))
	setup, err := ts.Accounts.Start(context.Background())
	if err != nil || setup == "" {
		t.Fatalf("Start = %q, %v", setup, err)
	}
	// Closed, no account yet: only the token flow is offered.
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"username": "owner", "password": "pw"})
	if status != 401 {
		t.Fatalf("first step: %d %v", status, body)
	}
	if got := flowsOf(body); len(got) != 1 || got[0] != authRegistrationToken {
		t.Errorf("flows = %v, want [m.login.registration_token]", got)
	}
	session := body["session"].(string)
	// Dummy is not offered.
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "owner", "password": "pw",
		"auth": map[string]any{"type": authDummy, "session": session}})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("dummy while closed: %d %v, want 401 M_FORBIDDEN", status, body)
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token="+setup, "", nil)
	if status != 200 || body["valid"] != true {
		t.Errorf("validity of the setup token: %d %v", status, body)
	}
	// A wrong token: 401 with M_FORBIDDEN and the flows.
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "owner", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken, "token": "wrong", "session": session}})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" || body["flows"] == nil {
		t.Errorf("wrong token: %d %v, want 401 M_FORBIDDEN with flows", status, body)
	}
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "owner", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken, "token": setup, "session": session}})
	wantOK(t, "register with the setup token", status, body)
	a, err := ts.Accounts.Account(context.Background(), "@owner:example.org")
	if err != nil || !a.Admin {
		t.Errorf("setup registrant = %+v, %v; want an admin", a, err)
	}
	// Once only: now registration is closed for good.
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "second", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken, "token": setup}})
	wantError(t, "setup token again", status, body, 403, "M_FORBIDDEN")
}

func TestRegisterClosedRefusesOrdinaryTokens(t *testing.T) {
	ts := newTestServer(t, withRegistration("closed"))
	if err := ts.Accounts.CreateRegistrationToken(context.Background(), core.RegistrationToken{Token: "ordinary"}); err != nil {
		t.Fatal(err)
	}
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"username": "x", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken, "token": "ordinary"}})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("ordinary token while closed: %d %v, want 401 M_FORBIDDEN", status, body)
	}
	if ok, _ := ts.Accounts.RegistrationTokenValid(context.Background(), "ordinary"); !ok {
		t.Error("refused token's use was not given back")
	}
}

func TestRegisterOpenFirstUserIsNotAdmin(t *testing.T) {
	ts := newTestServer(t)
	setup, _ := ts.Accounts.Start(context.Background())
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"username": "first", "password": "pw"})
	if status != 401 {
		t.Fatalf("%d %v", status, body)
	}
	if got := flowsOf(body); len(got) != 2 {
		t.Errorf("open registration without accounts: flows %v, want dummy and the setup token", got)
	}
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "first", "password": "pw",
		"auth": map[string]any{"type": authDummy}})
	wantOK(t, "register", status, body)
	if a, _ := ts.Accounts.Account(context.Background(), "@first:example.org"); a.Admin {
		t.Error("the first registrant became admin without the setup token")
	}
	if ok, _ := ts.Accounts.RegistrationTokenValid(context.Background(), setup); ok {
		t.Error("setup token still valid after an account exists")
	}
}

func TestRegisterByToken(t *testing.T) {
	ts := newTestServer(t, withRegistration("token"))
	ts.registerTestUser(t, "owner")
	one := 1
	if err := ts.Accounts.CreateRegistrationToken(context.Background(), core.RegistrationToken{Token: "family", UsesAllowed: &one}); err != nil {
		t.Fatal(err)
	}
	status, body := ts.do(t, "POST", registerPath, "", map[string]any{"username": "kid", "password": "pw",
		"auth": map[string]any{"type": authDummy}})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("dummy in token mode: %d %v", status, body)
	}
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "kid", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken}})
	if status != 401 || body["errcode"] != "M_MISSING_PARAM" {
		t.Errorf("token stage without token: %d %v", status, body)
	}
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "kid", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken, "token": "family"}})
	wantOK(t, "register with a token", status, body)
	if a, _ := ts.Accounts.Account(context.Background(), "@kid:example.org"); a.Admin {
		t.Error("an ordinary token made an admin")
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity?token=family", "", nil)
	if status != 200 || body["valid"] != false {
		t.Errorf("validity of a used-up token: %d %v", status, body)
	}
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "kid2", "password": "pw",
		"auth": map[string]any{"type": authRegistrationToken, "token": "family"}})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("used-up token: %d %v", status, body)
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v1/register/m.login.registration_token/validity", "", nil)
	wantError(t, "validity without token", status, body, 400, "M_MISSING_PARAM")
}

func TestRegisterAvailable(t *testing.T) {
	ts := newTestServer(t)
	ts.registerTestUser(t, "taken")
	const path = "/_matrix/client/v3/register/available?username="
	status, body := ts.do(t, "GET", path+"free", "", nil)
	if status != 200 || body["available"] != true {
		t.Errorf("free name: %d %v", status, body)
	}
	status, body = ts.do(t, "GET", path+"taken", "", nil)
	wantError(t, "taken name", status, body, 400, "M_USER_IN_USE")
	status, body = ts.do(t, "GET", path+"bad%20name", "", nil)
	wantError(t, "bad name", status, body, 400, "M_INVALID_USERNAME")
	status, body = ts.do(t, "GET", "/_matrix/client/v3/register/available", "", nil)
	wantError(t, "no name", status, body, 400, "M_MISSING_PARAM")
}
