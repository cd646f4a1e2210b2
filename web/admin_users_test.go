package web

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

const adminUsers = "/_synapse/admin/v2/users"

func TestAdminServerVersion(t *testing.T) {
	ts := newTestServer(t)
	status, body := ts.do(t, "GET", "/_synapse/admin/v1/server_version", "", nil)
	wantOK(t, "server_version", status, body)
	if body["server_version"] != "test" {
		t.Errorf("server_version = %v", body)
	}
}

func TestAdminAccess(t *testing.T) {
	ts := newTestServer(t)
	user := ts.registerTestUser(t, "user")
	for _, tt := range []struct{ method, path string }{
		{"GET", adminUsers},
		{"GET", adminUsers + "/@user:example.org"},
		{"PUT", adminUsers + "/@new:example.org"},
	} {
		status, body := ts.do(t, tt.method, tt.path, user.AccessToken, map[string]any{})
		wantError(t, tt.method+" "+tt.path+" as a non-admin", status, body, 403, "M_FORBIDDEN")
		status, body = ts.do(t, tt.method, tt.path, "", map[string]any{})
		wantError(t, tt.method+" "+tt.path+" without token", status, body, 401, "M_MISSING_TOKEN")
		status, body = ts.do(t, tt.method, tt.path, "hat_nope", map[string]any{})
		wantError(t, tt.method+" "+tt.path+" with an unknown token", status, body, 401, "M_UNKNOWN_TOKEN")
	}
	if _, err := ts.Accounts.Account(context.Background(), "@new:example.org"); err == nil {
		t.Error("a non-admin created an account")
	}
}

func TestAdminListUsers(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.registerTestAdmin(t, "admin")
	for _, n := range []string{"carol", "bob", "dave"} {
		ts.registerTestUser(t, n)
	}
	if err := ts.Accounts.Deactivate(context.Background(), "@dave:example.org"); err != nil {
		t.Fatal(err)
	}
	names := func(body map[string]any) []string {
		var out []string
		for _, u := range body["users"].([]any) {
			out = append(out, u.(map[string]any)["name"].(string))
		}
		return out
	}
	status, body := ts.do(t, "GET", adminUsers, admin.AccessToken, nil)
	wantOK(t, "list", status, body)
	if got := names(body); len(got) != 3 || got[0] != "@admin:example.org" || got[1] != "@bob:example.org" || got[2] != "@carol:example.org" {
		t.Errorf("users = %v", got)
	}
	if body["total"] != float64(3) {
		t.Errorf("total = %v, want 3", body["total"])
	}
	if _, ok := body["next_token"]; ok {
		t.Errorf("next_token on the only page: %v", body["next_token"])
	}
	first := body["users"].([]any)[0].(map[string]any)
	if first["admin"] != true || first["is_guest"] != false || first["deactivated"] != false ||
		first["creation_ts"] != float64(ts.Clock.Now().UnixMilli()) {
		t.Errorf("user entry = %v", first)
	}

	status, body = ts.do(t, "GET", adminUsers+"?limit=2", admin.AccessToken, nil)
	wantOK(t, "first page", status, body)
	if got := names(body); len(got) != 2 || body["next_token"] != "2" || body["total"] != float64(3) {
		t.Errorf("first page: %v, next %v, total %v", got, body["next_token"], body["total"])
	}
	status, body = ts.do(t, "GET", adminUsers+"?limit=2&from=2", admin.AccessToken, nil)
	wantOK(t, "second page", status, body)
	if got := names(body); len(got) != 1 || got[0] != "@carol:example.org" || body["next_token"] != nil {
		t.Errorf("second page: %v, next %v", got, body["next_token"])
	}
	status, body = ts.do(t, "GET", adminUsers+"?deactivated=true", admin.AccessToken, nil)
	wantOK(t, "with deactivated", status, body)
	if got := names(body); len(got) != 4 || body["total"] != float64(4) {
		t.Errorf("with deactivated: %v", got)
	}
	status, body = ts.do(t, "GET", adminUsers+"?name=car", admin.AccessToken, nil)
	wantOK(t, "by name", status, body)
	if got := names(body); len(got) != 1 || got[0] != "@carol:example.org" {
		t.Errorf("by name: %v", got)
	}
	status, body = ts.do(t, "GET", adminUsers+"?limit=0", admin.AccessToken, nil)
	wantOK(t, "limit 0", status, body)
	if len(body["users"].([]any)) != 0 || body["total"] != float64(3) {
		t.Errorf("limit 0: %v", body)
	}
	for _, q := range []string{"?from=-1", "?from=x", "?limit=-5", "?deactivated=maybe"} {
		status, body := ts.do(t, "GET", adminUsers+q, admin.AccessToken, nil)
		wantError(t, "list "+q, status, body, 400, "M_INVALID_PARAM")
	}
}

func TestAdminGetUser(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.registerTestAdmin(t, "admin")
	ts.registerTestUser(t, "bob")
	status, body := ts.do(t, "GET", adminUsers+"/@bob:example.org", admin.AccessToken, nil)
	wantOK(t, "get user", status, body)
	if body["name"] != "@bob:example.org" || body["admin"] != false || body["deactivated"] != false ||
		body["creation_ts"] != float64(ts.Clock.Now().Unix()) || body["threepids"] == nil || body["user_type"] != nil {
		t.Errorf("user = %v", body)
	}
	tests := []struct {
		path       string
		wantStatus int
		wantCode   string
	}{
		{adminUsers + "/@nobody:example.org", 404, "M_NOT_FOUND"},
		{adminUsers + "/@bob:elsewhere.org", 400, "M_INVALID_PARAM"},
		{adminUsers + "/bob", 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		status, body := ts.do(t, "GET", tt.path, admin.AccessToken, nil)
		wantError(t, "GET "+tt.path, status, body, tt.wantStatus, tt.wantCode)
	}
}

func TestAdminCreateUser(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.registerTestAdmin(t, "admin")
	status, body := ts.do(t, "PUT", adminUsers+"/@kid:example.org", admin.AccessToken, map[string]any{"password": "kidpass", "user_type": "bot"})
	if status != 201 || body["name"] != "@kid:example.org" || body["admin"] != false || body["user_type"] != "bot" {
		t.Fatalf("create: %d %v, want 201", status, body)
	}
	ts.login(t, "kid", "kidpass", "")
	status, body = ts.do(t, "PUT", adminUsers+"/@helper:example.org", admin.AccessToken, map[string]any{"admin": true, "deactivated": true})
	if status != 201 || body["admin"] != true || body["deactivated"] != true {
		t.Errorf("create deactivated admin: %d %v", status, body)
	}
	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"bad localpart", adminUsers + "/@Kid:example.org", map[string]any{}, 400, "M_INVALID_USERNAME"},
		{"remote user", adminUsers + "/@kid:elsewhere.org", map[string]any{}, 400, "M_INVALID_PARAM"},
		{"not JSON", adminUsers + "/@x:example.org", "{", 400, "M_NOT_JSON"},
		{"wrong type", adminUsers + "/@x:example.org", `{"admin": "yes"}`, 400, "M_BAD_JSON"},
		{"bad user type", adminUsers + "/@x:example.org", map[string]any{"user_type": "robot"}, 400, "M_INVALID_PARAM"},
	}
	for _, tt := range tests {
		status, body := ts.do(t, "PUT", tt.path, admin.AccessToken, tt.body)
		wantError(t, tt.name, status, body, tt.wantStatus, tt.wantCode)
	}
}

func TestAdminModifyUser(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.registerTestAdmin(t, "admin")
	bob := ts.registerTestUser(t, "bob")
	path := adminUsers + "/@bob:example.org"

	// New password, logout_devices false: bob's token stays.
	status, body := ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"password": "second", "logout_devices": false})
	wantOK(t, "password, keep devices", status, body)
	if status, _ := ts.do(t, "GET", "/_matrix/client/v3/account/whoami", bob.AccessToken, nil); status != 200 {
		t.Errorf("bob's token after logout_devices false: %d", status)
	}
	// New password: bob's devices are logged out.
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"password": "third"})
	wantOK(t, "password", status, body)
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", bob.AccessToken, nil)
	wantError(t, "bob's token after a password reset", status, body, 401, "M_UNKNOWN_TOKEN")
	bob = ts.login(t, "bob", "third", "")

	// Admin rights, seen at once by bob's session.
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"admin": true})
	wantOK(t, "make admin", status, body)
	if body["admin"] != true {
		t.Errorf("admin = %v", body["admin"])
	}
	if status, _ := ts.do(t, "GET", adminUsers, bob.AccessToken, nil); status != 200 {
		t.Errorf("bob as new admin: %d", status)
	}
	status, body = ts.do(t, "PUT", adminUsers+"/@admin:example.org", admin.AccessToken, map[string]any{"admin": false})
	wantError(t, "demote self", status, body, 400, "M_INVALID_PARAM")
	status, body = ts.do(t, "PUT", adminUsers+"/@admin:example.org", admin.AccessToken, map[string]any{"deactivated": true})
	wantError(t, "deactivate self", status, body, 400, "M_INVALID_PARAM")
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"admin": false})
	wantOK(t, "revoke admin", status, body)
	status, body = ts.do(t, "GET", adminUsers, bob.AccessToken, nil)
	wantError(t, "bob after losing admin", status, body, 403, "M_FORBIDDEN")

	// Deactivate, then reactivate (a password is needed).
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"deactivated": true})
	wantOK(t, "deactivate", status, body)
	if body["deactivated"] != true {
		t.Errorf("deactivated = %v", body["deactivated"])
	}
	status, body = ts.do(t, "GET", "/_matrix/client/v3/account/whoami", bob.AccessToken, nil)
	wantError(t, "bob's token after deactivation", status, body, 401, "M_UNKNOWN_TOKEN")
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"deactivated": false})
	wantError(t, "reactivate without password", status, body, 400, "M_MISSING_PARAM")
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"deactivated": false, "password": "back"})
	wantOK(t, "reactivate", status, body)
	if body["deactivated"] != false {
		t.Errorf("deactivated after reactivation = %v", body["deactivated"])
	}
	ts.login(t, "bob", "back", "")
	status, body = ts.do(t, "PUT", path, admin.AccessToken, map[string]any{"password": ""})
	wantError(t, "empty password", status, body, 400, "M_INVALID_PARAM")
}

func TestAdminUserProfile(t *testing.T) {
	var changes []string
	ts := newTestServer(t, func(o *Options, db *storage.DB) {
		// Records the calls instead of updating member events.
		o.ProfileUpdates = &core.ProfileService{Store: o.Profiles, Changed: func(_ context.Context, userID, dn, av string) error {
			changes = append(changes, userID+"|"+dn+"|"+av)
			return nil
		}}
	})
	admin := ts.registerTestAdmin(t, "admin")
	status, body := ts.do(t, "PUT", adminUsers+"/@kid:example.org", admin.AccessToken, map[string]any{"password": "pw"})
	if status != 201 || body["displayname"] != "kid" || body["avatar_url"] != nil {
		t.Errorf("created user's profile: %d %v, want display name kid", status, body)
	}
	status, body = ts.do(t, "PUT", adminUsers+"/@kid:example.org", admin.AccessToken,
		map[string]any{"displayname": "Kid", "avatar_url": "mxc://example.org/abc"})
	wantOK(t, "set profile", status, body)
	if body["displayname"] != "Kid" || body["avatar_url"] != "mxc://example.org/abc" {
		t.Errorf("profile after PUT: %v", body)
	}
	status, body = ts.do(t, "GET", adminUsers+"?name=kid", admin.AccessToken, nil)
	wantOK(t, "list", status, body)
	if u := body["users"].([]any)[0].(map[string]any); u["displayname"] != "Kid" || u["avatar_url"] != "mxc://example.org/abc" {
		t.Errorf("list entry: %v", u)
	}
	status, body = ts.do(t, "PUT", adminUsers+"/@kid:example.org", admin.AccessToken, map[string]any{"displayname": ""})
	wantOK(t, "remove display name", status, body)
	if body["displayname"] != nil {
		t.Errorf("display name after removal: %v", body["displayname"])
	}
	want := []string{"@kid:example.org|kid|", "@kid:example.org|Kid|mxc://example.org/abc", "@kid:example.org||mxc://example.org/abc"}
	if !cmp.Equal(changes, want) {
		t.Errorf("profile changes told = %q, want %q", changes, want)
	}
	// Registration gives the localpart as display name too.
	status, body = ts.do(t, "POST", registerPath, "", map[string]any{"username": "newbie", "password": "pw",
		"auth": map[string]any{"type": authDummy}})
	wantOK(t, "register", status, body)
	status, body = ts.do(t, "GET", adminUsers+"/@newbie:example.org", admin.AccessToken, nil)
	if status != 200 || body["displayname"] != "newbie" {
		t.Errorf("registered user's display name: %d %v", status, body)
	}
}
