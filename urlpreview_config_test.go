package hearth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
)

// TestURLPreviewConfig: media.url_preview is off by default
// (M_UNRECOGNIZED); on, Open wires the previewer, which reaches a
// loopback page only with media.url_preview_allow_private; the legacy
// path answers the same.
func TestURLPreviewConfig(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><meta property="og:title" content="Loopback page"></head></html>`)
	}))
	t.Cleanup(page.Close)
	c := DefaultConfig()
	if c.URLPreview() || c.Media.URLPreviewAllowPrivate != "false" {
		t.Errorf("defaults: url_preview %q, allow_private %q", c.Media.URLPreview, c.Media.URLPreviewAllowPrivate)
	}
	for _, bad := range []string{"yes", ""} {
		c := DefaultConfig()
		c.Media.URLPreview = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "media.url_preview") {
			t.Errorf("Validate with media.url_preview = %q: %v", bad, err)
		}
	}
	for _, tc := range []struct {
		preview, allowPrivate string
		status                int
		errcode, title        string
	}{
		{"off", "true", 404, "M_UNRECOGNIZED", ""},
		{"on", "false", 502, "M_UNKNOWN", ""},
		{"on", "true", 200, "", "Loopback page"},
	} {
		t.Run(tc.preview+"/"+tc.allowPrivate, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = t.TempDir()
			cfg.Media.URLPreview, cfg.Media.URLPreviewAllowPrivate = tc.preview, tc.allowPrivate
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
			for _, path := range []string{"/_matrix/client/v1/media/preview_url", "/_matrix/media/v3/preview_url"} {
				req := httptest.NewRequest("GET", path+"?url="+url.QueryEscape(page.URL+"/")+"&ts=1", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				rec := httptest.NewRecorder()
				hs.Handler.ServeHTTP(rec, req)
				var body map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &body)
				if rec.Code != tc.status || (tc.errcode != "" && body["errcode"] != tc.errcode) || (tc.title != "" && body["og:title"] != tc.title) {
					t.Errorf("%s: %d %s, want %d %s %s", path, rec.Code, rec.Body, tc.status, tc.errcode, tc.title)
				}
			}
			if tc.preview == "on" {
				req := httptest.NewRequest("GET", "/_matrix/client/v1/media/preview_url", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				rec := httptest.NewRecorder()
				hs.Handler.ServeHTTP(rec, req)
				if rec.Code != 400 || !strings.Contains(rec.Body.String(), "M_MISSING_PARAM") {
					t.Errorf("no url: %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
