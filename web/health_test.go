package web

import (
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	ts := newTestServer(t)
	rec := ts.record(t, "GET", "/health", "", nil)
	if rec.Code != 200 || rec.Body.String() != "OK" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("GET /health = %d %q (%s), want 200 OK text/plain", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
	if rec := ts.record(t, "POST", "/health", "", nil); rec.Code == 200 {
		t.Errorf("POST /health = %d, want a refusal", rec.Code)
	}
}
