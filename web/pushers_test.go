package web

import (
	"testing"
)

func TestPushersAPI(t *testing.T) {
	ps := newPersonalServer(t)
	alice := ps.registerTestUser(t, "alice")
	bob := ps.registerTestUser(t, "bob")
	const set = "/_matrix/client/v3/pushers/set"
	pusher := func(key, url string, extra string) string {
		return `{"lang":"en","kind":"http","app_display_name":"Mat Rix","device_display_name":"iPhone 9","profile_tag":"xxyyzz",
			"app_id":"com.example.app.ios","pushkey":"` + key + `","data":{"url":"` + url + `","format":"event_id_only","custom":1}` + extra + `}`
	}
	status, body := ps.do(t, "GET", "/_matrix/client/v3/pushers", alice.AccessToken, nil)
	if l, ok := body["pushers"].([]any); status != 200 || !ok || len(l) != 0 {
		t.Fatalf("GET pushers = %d %v", status, body)
	}
	status, body = ps.do(t, "POST", set, alice.AccessToken, pusher("k1", "https://push-gateway.location.here/_matrix/push/v1/notify", ""))
	wantOK(t, "set", status, body)
	status, body = ps.do(t, "POST", set, alice.AccessToken, pusher("k2", "http://127.0.0.1:8080/_matrix/push/v1/notify", ""))
	wantOK(t, "set loopback http", status, body)
	// Bob takes k1 without append: alice loses it.
	status, body = ps.do(t, "POST", set, bob.AccessToken, pusher("k1", "https://push-gateway.location.here/_matrix/push/v1/notify", ""))
	wantOK(t, "bob takes k1", status, body)
	status, body = ps.do(t, "GET", "/_matrix/client/v3/pushers", alice.AccessToken, nil)
	list, _ := body["pushers"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("alice's pushers = %d %v", status, body)
	}
	p := list[0].(map[string]any)
	data, _ := p["data"].(map[string]any)
	if p["pushkey"] != "k2" || p["kind"] != "http" || p["app_id"] != "com.example.app.ios" || p["lang"] != "en" ||
		p["profile_tag"] != "xxyyzz" || p["device_display_name"] != "iPhone 9" || data["format"] != "event_id_only" || data["custom"] != 1.0 {
		t.Errorf("pusher = %v", p)
	}
	// With append, alice adds k1 back beside bob's.
	status, body = ps.do(t, "POST", set, alice.AccessToken, pusher("k1", "https://push-gateway.location.here/_matrix/push/v1/notify", `,"append":true`))
	wantOK(t, "append", status, body)
	for _, u := range []testUser{alice, bob} {
		_, body := ps.do(t, "GET", "/_matrix/client/v3/pushers", u.AccessToken, nil)
		if l, _ := body["pushers"].([]any); len(l) != map[string]int{alice.UserID: 2, bob.UserID: 1}[u.UserID] {
			t.Errorf("%s has %d pushers", u.UserID, len(l))
		}
	}
	// kind null deletes.
	status, body = ps.do(t, "POST", set, alice.AccessToken, `{"kind":null,"app_id":"com.example.app.ios","pushkey":"k2"}`)
	wantOK(t, "delete", status, body)
	_, body = ps.do(t, "GET", "/_matrix/client/v3/pushers", alice.AccessToken, nil)
	if l, _ := body["pushers"].([]any); len(l) != 1 || l[0].(map[string]any)["pushkey"] != "k1" {
		t.Errorf("after delete: %v", body)
	}

	long := make([]byte, 513)
	for i := range long {
		long[i] = 'k'
	}
	tests := []struct {
		name, body string
		code       string
	}{
		{"no kind", `{"app_id":"a","pushkey":"k"}`, "M_MISSING_PARAM"},
		{"no pushkey", `{"kind":"http","app_id":"a"}`, "M_MISSING_PARAM"},
		{"no lang or data", `{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D"}`, "M_MISSING_PARAM"},
		{"no url", `{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"en","data":{}}`, "M_MISSING_PARAM"},
		{"wrong path", pusher("k", "https://gw.example/notify", ""), "M_INVALID_PARAM"},
		{"plain http", pusher("k", "http://gw.example/_matrix/push/v1/notify", ""), "M_INVALID_PARAM"},
		{"not a URL", pusher("k", "::", ""), "M_INVALID_PARAM"},
		{"email", `{"kind":"email","app_id":"m.email","pushkey":"a@example.org","app_display_name":"A","device_display_name":"D","lang":"en","data":{}}`, "M_INVALID_PARAM"},
		{"pushkey too long", pusher(string(long), "https://gw.example/_matrix/push/v1/notify", ""), "M_INVALID_PARAM"},
		{"kind a number", `{"kind":5,"app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"en","data":{}}`, "M_BAD_JSON"},
		{"data a string", `{"kind":"http","app_id":"a","pushkey":"k","app_display_name":"A","device_display_name":"D","lang":"en","data":"x"}`, "M_BAD_JSON"},
	}
	for _, tt := range tests {
		status, body := ps.do(t, "POST", set, alice.AccessToken, tt.body)
		wantError(t, tt.name, status, body, 400, tt.code)
	}
	status, body = ps.do(t, "POST", set, alice.AccessToken, `{`)
	wantError(t, "not JSON", status, body, 400, "M_NOT_JSON")
}
