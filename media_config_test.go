package hearth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
)

func TestMediaConfigKeys(t *testing.T) {
	c := DefaultConfig()
	if c.MaxUploadBytes() != 50<<20 || !c.LegacyMediaDownload() {
		t.Errorf("defaults: max_upload_bytes %d, legacy download %v; want %d, true", c.MaxUploadBytes(), c.LegacyMediaDownload(), 50<<20)
	}
	env := map[string]string{
		"HEARTH_MEDIA_MAX_UPLOAD_BYTES":                "1000",
		"HEARTH_MEDIA_LEGACY_UNAUTHENTICATED_DOWNLOAD": "false",
	}
	c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.MaxUploadBytes() != 1000 || c.LegacyMediaDownload() {
		t.Errorf("from the environment: %d, %v; want 1000, false", c.MaxUploadBytes(), c.LegacyMediaDownload())
	}
	tests := []struct{ key, value string }{
		{"max_upload_bytes", "0"},
		{"max_upload_bytes", "-5"},
		{"max_upload_bytes", "50MiB"},
		{"max_upload_bytes", ""},
		{"legacy_unauthenticated_download", "yes"},
		{"legacy_unauthenticated_download", ""},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		if tt.key == "max_upload_bytes" {
			c.Media.MaxUploadBytes = tt.value
		} else {
			c.Media.LegacyUnauthenticatedDownload = tt.value
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "media."+tt.key) {
			t.Errorf("Validate with media.%s = %q: %v, want an error naming the key", tt.key, tt.value, err)
		}
	}
}

// TestOpenServesMedia checks that Open wires the content repository with
// the configured limit and legacy switch.
func TestOpenServesMedia(t *testing.T) {
	for _, legacy := range []string{"true", "false"} {
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.Media.MaxUploadBytes = "10"
		cfg.Media.LegacyUnauthenticatedDownload = legacy
		hs, err := Open(context.Background(), cfg, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hs.Close() })
		ctx := context.Background()
		userID := "@alice:" + hs.ServerName
		if _, err := hs.services.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password"}); err != nil {
			t.Fatal(err)
		}
		tok, err := hs.services.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
		if err != nil {
			t.Fatal(err)
		}
		call := func(method, path string, body []byte, token string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(method, path, bytes.NewReader(body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			hs.Handler.ServeHTTP(rec, req)
			return rec
		}
		if rec := call("POST", "/_matrix/media/v3/upload", make([]byte, 11), tok.AccessToken); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("legacy %s: upload over media.max_upload_bytes: %d %s", legacy, rec.Code, rec.Body)
		}
		rec := call("POST", "/_matrix/media/v3/upload", []byte("0123456789"), tok.AccessToken)
		var out struct {
			ContentURI string `json:"content_uri"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("legacy %s: upload: %d %s", legacy, rec.Code, rec.Body)
		}
		serverAndID := strings.TrimPrefix(out.ContentURI, "mxc://")
		if rec := call("GET", "/_matrix/client/v1/media/download/"+serverAndID, nil, tok.AccessToken); rec.Code != http.StatusOK || rec.Body.String() != "0123456789" {
			t.Errorf("legacy %s: authenticated download: %d %q", legacy, rec.Code, rec.Body)
		}
		want := http.StatusOK
		if legacy == "false" {
			want = http.StatusNotFound
		}
		if rec := call("GET", "/_matrix/media/v3/download/"+serverAndID, nil, ""); rec.Code != want {
			t.Errorf("legacy %s: unauthenticated download: %d, want %d", legacy, rec.Code, want)
		}
	}
}
