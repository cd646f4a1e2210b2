package web

import (
	"context"
	"strings"
	"testing"
)

func TestDevices(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	phone := ts.login(t, "alice", testPassword, "PHONE")
	bob := ts.registerTestUser(t, "bob")

	status, body := ts.do(t, "GET", "/_matrix/client/v3/devices", alice.AccessToken, nil)
	wantOK(t, "GET /devices", status, body)
	devs := body["devices"].([]any)
	if len(devs) != 2 {
		t.Fatalf("devices = %v, want 2", devs)
	}
	for _, d := range devs {
		d := d.(map[string]any)
		if d["device_id"] == alice.DeviceID && (d["last_seen_ip"] != "127.0.0.1" || d["last_seen_ts"] == nil) {
			t.Errorf("requesting device without last_seen: %v", d)
		}
	}

	// Rename.
	const devPath = "/_matrix/client/v3/devices/"
	status, body = ts.do(t, "PUT", devPath+"PHONE", alice.AccessToken, map[string]any{"display_name": "My phone"})
	wantOK(t, "rename", status, body)
	status, body = ts.do(t, "GET", devPath+"PHONE", alice.AccessToken, nil)
	wantOK(t, "GET device", status, body)
	if body["device_id"] != "PHONE" || body["display_name"] != "My phone" {
		t.Errorf("device = %v", body)
	}
	status, body = ts.do(t, "PUT", devPath+"PHONE", alice.AccessToken, map[string]any{})
	wantOK(t, "PUT without display_name", status, body)
	if _, body = ts.do(t, "GET", devPath+"PHONE", alice.AccessToken, nil); body["display_name"] != "My phone" {
		t.Errorf("PUT without display_name changed it: %v", body)
	}

	errTests := []struct {
		name, method, path, token string
		body                      any
		wantStatus                int
		wantCode                  string
	}{
		{"GET devices without token", "GET", "/_matrix/client/v3/devices", "", nil, 401, "M_MISSING_TOKEN"},
		{"GET devices unknown token", "GET", "/_matrix/client/v3/devices", "hat_x", nil, 401, "M_UNKNOWN_TOKEN"},
		{"GET unknown device", "GET", devPath + "NOPE", alice.AccessToken, nil, 404, "M_NOT_FOUND"},
		{"GET another user's device", "GET", devPath + "PHONE", bob.AccessToken, nil, 404, "M_NOT_FOUND"},
		{"PUT unknown device", "PUT", devPath + "NOPE", alice.AccessToken, map[string]any{"display_name": "x"}, 404, "M_NOT_FOUND"},
		{"PUT unknown device, no name", "PUT", devPath + "NOPE", alice.AccessToken, map[string]any{}, 404, "M_NOT_FOUND"},
		{"PUT another user's device", "PUT", devPath + "PHONE", bob.AccessToken, map[string]any{"display_name": "x"}, 404, "M_NOT_FOUND"},
		{"PUT bad JSON", "PUT", devPath + "PHONE", alice.AccessToken, "{", 400, "M_NOT_JSON"},
		{"PUT wrong type", "PUT", devPath + "PHONE", alice.AccessToken, `{"display_name": 3}`, 400, "M_BAD_JSON"},
		{"PUT too long", "PUT", devPath + "PHONE", alice.AccessToken, map[string]any{"display_name": strings.Repeat("x", 257)}, 400, "M_INVALID_PARAM"},
		{"PUT without token", "PUT", devPath + "PHONE", "", map[string]any{}, 401, "M_MISSING_TOKEN"},
		{"DELETE bad JSON", "DELETE", devPath + "PHONE", alice.AccessToken, "x", 400, "M_NOT_JSON"},
		{"DELETE without token", "DELETE", devPath + "PHONE", "", map[string]any{}, 401, "M_MISSING_TOKEN"},
		{"delete_devices without list", "POST", "/_matrix/client/v3/delete_devices", alice.AccessToken, map[string]any{}, 400, "M_MISSING_PARAM"},
		{"delete_devices bad JSON", "POST", "/_matrix/client/v3/delete_devices", alice.AccessToken, `{"devices": "PHONE"}`, 400, "M_BAD_JSON"},
	}
	for _, tt := range errTests {
		status, body := ts.do(t, tt.method, tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.wantStatus, tt.wantCode)
	}

	// DELETE needs interactive auth by password.
	status, body = ts.do(t, "DELETE", devPath+"PHONE", alice.AccessToken, map[string]any{})
	if status != 401 || len(flowsOf(body)) != 1 || flowsOf(body)[0] != authPassword {
		t.Fatalf("DELETE without auth: %d %v, want a password challenge", status, body)
	}
	session := body["session"].(string)
	status, body = ts.do(t, "DELETE", devPath+"PHONE", alice.AccessToken, map[string]any{"auth": passwordAuth(session, "alice", "wrong")})
	if status != 401 || body["errcode"] != "M_FORBIDDEN" {
		t.Errorf("DELETE with a wrong password: %d %v", status, body)
	}
	// Bob's password does not delete Alice's devices: 403, as Synapse
	// answers, not a challenge to try again.
	status, body = ts.do(t, "DELETE", devPath+"PHONE", alice.AccessToken, map[string]any{"auth": passwordAuth(session, "bob", testPassword)})
	if status != 403 || body["errcode"] != "M_FORBIDDEN" || body["flows"] != nil {
		t.Errorf("DELETE with another user's password: %d %v", status, body)
	}
	status, body = ts.do(t, "DELETE", devPath+"PHONE", alice.AccessToken, map[string]any{"auth": passwordAuth(session, "alice", testPassword)})
	wantOK(t, "DELETE device", status, body)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", phone.AccessToken, nil)
	wantError(t, "token of a deleted device", status, body, 401, "M_UNKNOWN_TOKEN")
	// Deleting it again succeeds ("or had been removed previously").
	status, body = ts.do(t, "DELETE", devPath+"PHONE", alice.AccessToken, map[string]any{"auth": passwordAuth("", "alice", testPassword)})
	wantOK(t, "DELETE deleted device", status, body)

	// POST /delete_devices, including the requesting device.
	third := ts.login(t, "alice", testPassword, "THIRD")
	status, body = ts.do(t, "POST", "/_matrix/client/v3/delete_devices", alice.AccessToken, map[string]any{
		"devices": []string{"THIRD", alice.DeviceID, "UNKNOWN"}, "auth": passwordAuth("", alice.UserID, testPassword)})
	wantOK(t, "delete_devices", status, body)
	for _, tok := range []string{third.AccessToken, alice.AccessToken} {
		status, body := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", tok, nil)
		wantError(t, "token after delete_devices", status, body, 401, "M_UNKNOWN_TOKEN")
	}
	if devs, _ := ts.Accounts.Devices(context.Background(), alice.UserID); len(devs) != 0 {
		t.Errorf("devices left: %v", devs)
	}
	if status, _ := ts.do(t, "GET", "/_matrix/client/v3/devices", bob.AccessToken, nil); status != 200 {
		t.Errorf("bob's device after alice's deletions: %d", status)
	}
}

// TestDeviceChangesWakeSync checks that each change of a user's devices
// (a new one, a rename, a deletion, a logout) wakes waiting /sync requests:
// storage signals it when the device list stream advances.
func TestDeviceChangesWakeSync(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	n := ts.Server.opts.Notifier
	var second string // the device the login makes, deleted later
	tests := []struct {
		name         string
		method, path string
		token        string
		body         func() any
	}{
		{"login", "POST", "/_matrix/client/v3/login", "", func() any { return passwordLogin("alice", testPassword) }},
		{"rename", "PUT", "/_matrix/client/v3/devices/" + alice.DeviceID, alice.AccessToken, func() any { return map[string]any{"display_name": "x"} }},
		{"delete", "POST", "/_matrix/client/v3/delete_devices", alice.AccessToken, func() any {
			return map[string]any{"devices": []string{second}, "auth": passwordAuth("", "alice", testPassword)}
		}},
		{"logout", "POST", "/_matrix/client/v3/logout", alice.AccessToken, func() any { return nil }},
	}
	for _, tt := range tests {
		ch := n.Changed()
		status, body := ts.do(t, tt.method, tt.path, tt.token, tt.body())
		wantOK(t, tt.name, status, body)
		if tt.name == "login" {
			second, _ = body["device_id"].(string)
		}
		select {
		case <-ch:
		default:
			t.Errorf("%s did not wake /sync", tt.name)
		}
	}
}
