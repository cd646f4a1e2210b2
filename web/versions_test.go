package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestUnknownEndpoints(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/_matrix/client/v3/no/such/thing", 404, ""},
		{"POST", "/_matrix/client/versions", 405, "GET"},
		{"GET", "/_matrix/client/versions", 200, ""},
	}
	for _, c := range cases {
		rec := ts.net.do(t, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s: status %d, want %d (%s)", c.method, c.path, rec.Code, c.status, rec.Body)
			continue
		}
		if c.status >= 400 {
			if got := decodeErrcode(t, rec); got != "M_UNRECOGNIZED" {
				t.Errorf("%s %s: errcode %q, want M_UNRECOGNIZED", c.method, c.path, got)
			}
		}
		if got := rec.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
		if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: no CORS header", c.method, c.path)
		}
	}
}

func TestCORSPreflight(t *testing.T) {
	ts := newTestServer(t)
	rec := ts.net.do(t, httptest.NewRequest(http.MethodOptions, "/_matrix/client/v3/sync", nil))
	if rec.Code != http.StatusNoContent && rec.Code != http.StatusOK {
		t.Errorf("OPTIONS: status %d", rec.Code)
	}
	if rec.Header().Get("Access-Control-Allow-Headers") == "" {
		t.Error("OPTIONS: no Access-Control-Allow-Headers")
	}
}

func decodeErrcode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		ErrCode string `json:"errcode"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	return body.ErrCode
}
