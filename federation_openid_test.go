package hearth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// userInfo asks server's federation listener, as a third party would
// (through the fedNet, without X-Matrix), whose OpenID token token is.
func (n *fedNet) userInfo(t *testing.T, server, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", "https://"+server+"/_matrix/federation/v1/openid/userinfo?access_token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("userinfo answer: %v", err)
	}
	return resp.StatusCode, out
}

// TestOpenIDTokenCheckedByThirdParty: a local user's OpenID token, from
// the client API, is what the federation listener's userinfo names; it
// names nobody on another server, nor for a wrong or missing token; a
// user cannot ask for another user's token.
func TestOpenIDTokenCheckedByThirdParty(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")

	out := a.c.ok("POST", "/_matrix/client/v3/user/"+url.PathEscape(a.user)+"/openid/request_token", a.token, map[string]any{})
	token, _ := out["access_token"].(string)
	if token == "" || out["token_type"] != "Bearer" || out["matrix_server_name"] != "a.test" || out["expires_in"] != float64(3600) {
		t.Fatalf("request_token = %v", out)
	}
	status, info := n.userInfo(t, "a.test", token)
	if status != http.StatusOK || info["sub"] != a.user {
		t.Fatalf("userinfo on a.test = %d %v, want sub %s", status, info, a.user)
	}
	// A second token works beside the first.
	out2 := a.c.ok("POST", "/_matrix/client/v3/user/"+url.PathEscape(a.user)+"/openid/request_token", a.token, map[string]any{})
	if out2["access_token"] == token {
		t.Fatal("two requests gave the same token")
	}
	if status, info := n.userInfo(t, "a.test", token); status != http.StatusOK || info["sub"] != a.user {
		t.Fatalf("first token after a second was issued = %d %v", status, info)
	}

	for _, c := range []struct{ server, token string }{
		{"b.test", token},       // issued by another server
		{"a.test", token + "x"}, // not a token
		{"a.test", ""},          // missing
		{"a.test", a.token},     // an access token is not an OpenID token
	} {
		status, info := n.userInfo(t, c.server, c.token)
		if status != http.StatusUnauthorized || info["errcode"] != "M_UNKNOWN_TOKEN" {
			t.Errorf("userinfo on %s for %q = %d %v, want 401 M_UNKNOWN_TOKEN", c.server, c.token, status, info)
		}
	}

	// Bob cannot have a token in alice's name, on either server.
	if status, out := b.c.do("POST", "/_matrix/client/v3/user/"+url.PathEscape(a.user)+"/openid/request_token", b.token, map[string]any{}); status != http.StatusForbidden || out["errcode"] != "M_FORBIDDEN" {
		t.Fatalf("bob asking for alice's token = %d %v, want 403 M_FORBIDDEN", status, out)
	}
	if status, out := a.c.do("POST", "/_matrix/client/v3/user/"+url.PathEscape(a.user)+"/openid/request_token", "", map[string]any{}); status != http.StatusUnauthorized {
		t.Fatalf("request_token without an access token = %d %v, want 401", status, out)
	}
}
