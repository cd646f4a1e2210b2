package web

import (
	"net/http"
	"testing"
)

// FuzzUserDirectoryBody sends arbitrary bodies to the user directory: the
// answer is a 200 or a Matrix client error, never a panic or a 500.
func FuzzUserDirectoryBody(f *testing.F) {
	ts := newTestServer(f)
	alice := ts.registerTestUser(f, "alice")
	for _, s := range []string{`{"search_term":"a"}`, `{"search_term":"a","limit":2}`, `{"limit":-3}`, `{"search_term":null}`, `[]`, `"x"`, `{"search_term":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		status, resp := ts.do(t, "POST", "/_matrix/client/v3/user_directory/search", alice.AccessToken, body)
		if status == http.StatusOK {
			if _, ok := resp["results"].([]any); !ok {
				t.Fatalf("200 without results: %v", resp)
			}
			return
		}
		if status != 400 && status != 413 || resp["errcode"] == nil {
			t.Fatalf("body %q: %d %v", body, status, resp)
		}
	})
}
