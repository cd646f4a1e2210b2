package web

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

// profileChanges records the calls the profile service makes to follow a
// change into member events.
type profileChanges struct {
	mu    sync.Mutex
	calls []string
}

func (p *profileChanges) record(ctx context.Context, userID, name, avatar string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, userID+"|"+name+"|"+avatar)
	return nil
}

func TestProfileAPI(t *testing.T) {
	changes := &profileChanges{}
	ps := newPersonalServer(t, func(o *Options, db *storage.DB) {
		o.ProfileUpdates = &core.ProfileService{Store: o.Profiles, Changed: changes.record}
	})
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	p := "/_matrix/client/v3/profile/" + alice.UserID

	// A local user without any field has an empty profile; an unknown or
	// remote user has none.
	status, body := ps.do(t, "GET", p, "", nil)
	if status != 200 || len(body) != 0 {
		t.Errorf("empty profile = %d %v", status, body)
	}
	status, body = ps.do(t, "GET", "/_matrix/client/v3/profile/@nobody:example.org", "", nil)
	wantError(t, "unknown local user", status, body, 404, "M_NOT_FOUND")
	status, body = ps.do(t, "GET", "/_matrix/client/v3/profile/@someone:elsewhere.example", "", nil)
	wantError(t, "remote user", status, body, 404, "M_NOT_FOUND")
	status, body = ps.do(t, "GET", p+"/displayname", "", nil)
	wantError(t, "unset displayname", status, body, 404, "M_NOT_FOUND")

	for _, st := range []struct{ key, body string }{
		{"displayname", `{"displayname":"Alice Margatroid"}`},
		{"avatar_url", `{"avatar_url":"mxc://matrix.org/SDGdghriugerRg"}`},
		{"m.tz", `{"m.tz":"Europe/London"}`},
		{"m.example_field", `{"m.example_field":{"any":["json"]}}`},
	} {
		status, body := ps.do(t, "PUT", p+"/"+st.key, alice.AccessToken, st.body)
		wantOK(t, "PUT "+st.key, status, body)
	}
	status, body = ps.do(t, "GET", p, "", nil)
	if status != 200 || body["displayname"] != "Alice Margatroid" || body["avatar_url"] != "mxc://matrix.org/SDGdghriugerRg" ||
		body["m.tz"] != "Europe/London" || body["m.example_field"] == nil {
		t.Errorf("GET profile = %d %v", status, body)
	}
	status, body = ps.do(t, "GET", p+"/displayname", "", nil)
	if status != 200 || body["displayname"] != "Alice Margatroid" || len(body) != 1 {
		t.Errorf("GET displayname = %d %v", status, body)
	}
	status, body = ps.do(t, "DELETE", p+"/avatar_url", alice.AccessToken, nil)
	wantOK(t, "DELETE avatar_url", status, body)
	status, body = ps.do(t, "GET", p+"/avatar_url", "", nil)
	wantError(t, "deleted avatar_url", status, body, 404, "M_NOT_FOUND")

	want := []string{
		alice.UserID + "|Alice Margatroid|",
		alice.UserID + "|Alice Margatroid|mxc://matrix.org/SDGdghriugerRg",
		alice.UserID + "|Alice Margatroid|",
	}
	if strings.Join(changes.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("profile change calls:\n%s\nwant\n%s", strings.Join(changes.calls, "\n"), strings.Join(want, "\n"))
	}

	big := `{"org.example.big":"` + strings.Repeat("x", 70000) + `"}`
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"set another's profile", "PUT", p + "/displayname", bob.AccessToken, `{"displayname":"Mallory"}`, 403, "M_FORBIDDEN"},
		{"delete another's field", "DELETE", p + "/displayname", bob.AccessToken, nil, 403, "M_FORBIDDEN"},
		{"no token", "PUT", p + "/displayname", "", `{"displayname":"x"}`, 401, "M_MISSING_TOKEN"},
		{"missing field", "PUT", p + "/displayname", alice.AccessToken, `{}`, 400, "M_MISSING_PARAM"},
		{"other field", "PUT", p + "/displayname", alice.AccessToken, `{"avatar_url":"mxc://a/b"}`, 400, "M_MISSING_PARAM"},
		{"two fields", "PUT", p + "/displayname", alice.AccessToken, `{"displayname":"a","x":1}`, 400, "M_BAD_JSON"},
		{"displayname not a string", "PUT", p + "/displayname", alice.AccessToken, `{"displayname":5}`, 400, "M_BAD_JSON"},
		{"avatar not mxc", "PUT", p + "/avatar_url", alice.AccessToken, `{"avatar_url":"https://example.org/a.png"}`, 400, "M_INVALID_PARAM"},
		{"bad key", "PUT", p + "/Bad-Key", alice.AccessToken, `{"Bad-Key":1}`, 400, "M_INVALID_PARAM"},
		{"key too long", "PUT", p + "/org.example." + strings.Repeat("k", 250), alice.AccessToken, `{}`, 400, "M_KEY_TOO_LARGE"},
		{"not JSON", "PUT", p + "/displayname", alice.AccessToken, `{"displayname":`, 400, "M_NOT_JSON"},
		{"too large", "PUT", p + "/org.example.big", alice.AccessToken, big, 400, "M_PROFILE_TOO_LARGE"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, tt.method, tt.path, tt.token, tt.body)
		wantError(t, tt.name, status, body, tt.status, tt.code)
	}
	if status, body := ps.do(t, "GET", p+"/displayname", "", nil); body["displayname"] != "Alice Margatroid" {
		t.Errorf("after refused changes: %d %v", status, body)
	}
}

// TestProfileNameLimits checks Synapse's limits on display names (256
// characters) and avatar URLs (1,000) through every path that sets them:
// the client profile API and the admin user API (creating and modifying,
// refused before anything changes).
func TestProfileNameLimits(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	p := "/_matrix/client/v3/profile/" + alice.UserID
	atLimit := strings.Repeat("é", core.MaxDisplayNameLen) // 512 bytes, 256 characters
	status, body := ps.do(t, "PUT", p+"/displayname", alice.AccessToken, map[string]any{"displayname": atLimit})
	wantOK(t, "display name of 256 characters", status, body)
	status, body = ps.do(t, "PUT", p+"/displayname", alice.AccessToken, map[string]any{"displayname": atLimit + "x"})
	wantError(t, "display name of 257 characters", status, body, 400, "M_INVALID_PARAM")
	longURL := "mxc://example.org/" + strings.Repeat("a", core.MaxAvatarURLLen)
	status, body = ps.do(t, "PUT", p+"/avatar_url", alice.AccessToken, map[string]any{"avatar_url": longURL[:core.MaxAvatarURLLen]})
	wantOK(t, "avatar URL of 1,000 characters", status, body)
	status, body = ps.do(t, "PUT", p+"/avatar_url", alice.AccessToken, map[string]any{"avatar_url": longURL})
	wantError(t, "avatar URL over 1,000 characters", status, body, 400, "M_INVALID_PARAM")
	status, body = ps.do(t, "GET", p+"/displayname", "", nil)
	if status != 200 || body["displayname"] != atLimit {
		t.Errorf("display name after the refused change: %d %v", status, body)
	}

	// The admin user API, on a new and on an existing user: refused before
	// anything changes.
	admin := ps.registerTestAdmin(t, "admin")
	for _, u := range []string{"@newcomer:" + testServerName, alice.UserID} {
		for _, req := range []map[string]any{
			{"displayname": strings.Repeat("n", core.MaxDisplayNameLen+1), "password": "a new password"},
			{"avatar_url": longURL, "password": "a new password"},
		} {
			status, body = ps.do(t, "PUT", adminUsers+"/"+u, admin.AccessToken, req)
			wantError(t, "admin PUT of "+u+" with a long profile field", status, body, 400, "M_INVALID_PARAM")
		}
	}
	status, body = ps.do(t, "GET", adminUsers+"/@newcomer:"+testServerName, admin.AccessToken, nil)
	wantError(t, "user refused at creation", status, body, 404, "M_NOT_FOUND")
	status, body = ps.do(t, "GET", p+"/displayname", "", nil)
	if status != 200 || body["displayname"] != atLimit {
		t.Errorf("display name after the refused admin change: %d %v", status, body)
	}
}

// TestProfileNamesIgnoreOverlongValues checks that a display name stored
// before the limits existed is left out of what member events carry.
func TestProfileNamesIgnoreOverlongValues(t *testing.T) {
	long, _ := json.Marshal(strings.Repeat("x", core.MaxDisplayNameLen+1))
	ok, _ := json.Marshal("mxc://example.org/a")
	dn, av := core.ProfileNames(map[string]json.RawMessage{core.ProfileDisplayName: long, core.ProfileAvatarURL: ok})
	if dn != "" || av != "mxc://example.org/a" {
		t.Errorf("ProfileNames with an over-long display name = %q, %q; want \"\", the avatar URL", dn, av)
	}
}
