package web

import (
	"strconv"
	"testing"
)

func TestCapabilities(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	status, body := ts.do(t, "GET", "/_matrix/client/v3/capabilities", alice.AccessToken, nil)
	wantOK(t, "capabilities", status, body)
	caps := body["capabilities"].(map[string]any)
	for name, want := range map[string]bool{
		"m.change_password": true, "m.set_displayname": true, "m.set_avatar_url": true,
		"m.3pid_changes": false, "m.get_login_token": true,
	} {
		c, _ := caps[name].(map[string]any)
		if c["enabled"] != want {
			t.Errorf("%s = %v, want enabled %v", name, caps[name], want)
		}
	}
	rv := caps["m.room_versions"].(map[string]any)
	if rv["default"] != "12" {
		t.Errorf("default room version %v, want 12", rv["default"])
	}
	avail := rv["available"].(map[string]any)
	if len(avail) != 12 {
		t.Errorf("available room versions: %v, want 1-12", avail)
	}
	for v := 1; v <= 12; v++ {
		if avail[strconv.Itoa(v)] != "stable" {
			t.Errorf("room version %d = %v, want stable", v, avail[strconv.Itoa(v)])
		}
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/capabilities", "", nil)
	wantError(t, "capabilities without token", status, body, 401, "M_MISSING_TOKEN")
	status, body = ts.do(t, "GET", "/_matrix/client/v3/capabilities", "hat_x", nil)
	wantError(t, "capabilities with unknown token", status, body, 401, "M_UNKNOWN_TOKEN")
}
