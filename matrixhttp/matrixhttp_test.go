package matrixhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"hearth.dev/hearth/core"
)

// challenge is an error that carries its own 401 answer.
type challenge struct{ Session string }

func (c *challenge) Error() string        { return "auth needed" }
func (c *challenge) Response() (int, any) { return 401, map[string]string{"session": c.Session} }

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{"matrix error", core.ErrForbidden.WithMessage("no"), 403, `{"errcode":"M_FORBIDDEN","error":"no"}`, ""},
		{"wrapped matrix error", fmt.Errorf("ctx: %w", core.ErrNotFound), 404, `{"errcode":"M_NOT_FOUND","error":"Not found"}`, ""},
		{"internal error", errors.New("disk on fire"), 500, `{"errcode":"M_UNKNOWN","error":"Internal server error"}`, ""},
		{"rate limited", core.ErrLimitExceeded.WithMessage("slow").WithExtra("retry_after_ms", int64(1500)), 429,
			`{"errcode":"M_LIMIT_EXCEEDED","error":"slow","retry_after_ms":1500}`, "2"},
		{"responder", fmt.Errorf("uia: %w", &challenge{Session: "abc"}), 401, `{"session":"abc"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, httptest.NewRequest("GET", "/", nil), tt.err)
			var got, want any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body, err)
			}
			json.Unmarshal([]byte(tt.body), &want)
			if rec.Code != tt.status || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("WriteError(%v) = %d %s, want %d %s", tt.err, rec.Code, rec.Body, tt.status, tt.body)
			}
			if g := rec.Header().Get("Retry-After"); g != tt.retryAfter {
				t.Errorf("WriteError(%v) Retry-After = %q, want %q", tt.err, g, tt.retryAfter)
			}
		})
	}
}
