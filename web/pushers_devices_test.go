package web

import (
	"slices"
	"testing"
)

// Pushers belong to the device that set them: a device logged out by a
// password change, deleted, or logged out goes with its pushers.
func TestPushersGoWithTheirDevices(t *testing.T) {
	ps := newPersonalServer(t)
	keep := ps.registerTestUser(t, "alice")
	phone := ps.login(t, "alice", testPassword, "PHONE")
	laptop := ps.login(t, "alice", testPassword, "LAPTOP")
	tablet := ps.login(t, "alice", testPassword, "TABLET")
	set := func(u testUser, key string) {
		t.Helper()
		status, body := ps.do(t, "POST", "/_matrix/client/v3/pushers/set", u.AccessToken, map[string]any{
			"kind": "http", "app_id": "com.example.app", "pushkey": key, "app_display_name": "App",
			"device_display_name": u.DeviceID, "lang": "en", "data": map[string]any{"url": "https://push.example.com/_matrix/push/v1/notify"},
		})
		wantOK(t, "set pusher "+key, status, body)
	}
	keys := func(u testUser) []string {
		t.Helper()
		status, body := ps.do(t, "GET", "/_matrix/client/v3/pushers", u.AccessToken, nil)
		wantOK(t, "GET pushers", status, body)
		var out []string
		for _, p := range body["pushers"].([]any) {
			out = append(out, p.(map[string]any)["pushkey"].(string))
		}
		slices.Sort(out)
		return out
	}
	set(keep, "k-keep")
	set(phone, "k-phone")
	set(laptop, "k-laptop")
	set(tablet, "k-tablet")

	// Deleting a device deletes its pusher.
	status, body := ps.do(t, "POST", "/_matrix/client/v3/delete_devices", keep.AccessToken, map[string]any{
		"devices": []string{"TABLET"}, "auth": passwordAuth("", keep.UserID, testPassword)})
	wantOK(t, "delete_devices", status, body)
	if got, want := keys(keep), []string{"k-keep", "k-laptop", "k-phone"}; !slices.Equal(got, want) {
		t.Errorf("after deleting TABLET: pushers %v, want %v", got, want)
	}
	// Logging out deletes the device's pusher.
	status, body = ps.do(t, "POST", "/_matrix/client/v3/logout", laptop.AccessToken, map[string]any{})
	wantOK(t, "logout", status, body)
	if got, want := keys(keep), []string{"k-keep", "k-phone"}; !slices.Equal(got, want) {
		t.Errorf("after logging LAPTOP out: pushers %v, want %v", got, want)
	}
	// A password change that logs the other devices out deletes their
	// pushers and keeps the requesting device's.
	status, body = ps.do(t, "POST", "/_matrix/client/v3/account/password", keep.AccessToken, map[string]any{
		"new_password": "new one", "auth": passwordAuth("", keep.UserID, testPassword)})
	wantOK(t, "password change", status, body)
	if got, want := keys(keep), []string{"k-keep"}; !slices.Equal(got, want) {
		t.Errorf("after the password change: pushers %v, want %v", got, want)
	}
}
