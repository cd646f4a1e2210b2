package web

import (
	"crypto/tls"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"hearth.dev/hearth/storage"
)

func TestWellKnownClient(t *testing.T) {
	baseURL := func(ts *testServer, host string, https bool, proto string) any {
		r := httptest.NewRequest("GET", "/.well-known/matrix/client", nil)
		r.Host = host
		if https {
			r.TLS = &tls.ConnectionState{}
		}
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		rec := httptest.NewRecorder()
		ts.Server.ServeHTTP(rec, r)
		if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("well-known: %d, CORS %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
		}
		var body map[string]map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return body["m.homeserver"]["base_url"]
	}
	ts := newTestServer(t)
	tests := []struct {
		host  string
		https bool
		proto string
		want  string
	}{
		{"localhost:8008", false, "", "http://localhost:8008"},
		{"matrix.example.org", true, "", "https://matrix.example.org"},
		{"matrix.example.org", false, "https", "https://matrix.example.org"},
	}
	for _, tt := range tests {
		if got := baseURL(ts, tt.host, tt.https, tt.proto); got != tt.want {
			t.Errorf("base_url for %s (tls %v, proto %q) = %v, want %s", tt.host, tt.https, tt.proto, got, tt.want)
		}
	}
	configured := newTestServer(t, func(o *Options, _ *storage.DB) { o.PublicBaseURL = "https://hearth.example.org/" })
	if got := baseURL(configured, "ignored:1", false, ""); got != "https://hearth.example.org" {
		t.Errorf("configured base_url = %v", got)
	}
	// Login answers carry well_known when the base URL is configured.
	configured.registerTestUser(t, "alice")
	status, body := configured.do(t, "POST", "/_matrix/client/v3/login", "", passwordLogin("alice", testPassword))
	wantOK(t, "login", status, body)
	wk, _ := body["well_known"].(map[string]any)
	if hs, _ := wk["m.homeserver"].(map[string]any); hs["base_url"] != "https://hearth.example.org" {
		t.Errorf("login well_known = %v", body["well_known"])
	}
}
