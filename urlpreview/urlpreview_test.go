package urlpreview_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/internal/hearthtest"
	"hearth.dev/hearth/urlpreview"
)

// A 1×1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

const page = `<!doctype html><html><head>
<title>Page title</title>
<meta property="og:title" content="The &amp; OG title">
<meta property="og:description" content="What the page is about">
<meta property="og:image" content="/img.png">
<meta name="og:site_name" content="Site">
</head><body><svg><title>not this</title></svg><p>hi</p></body></html>`

// site is a loopback web server with a page, an image, a page with only a
// title and a description meta tag, a PDF, a long page and a redirect;
// hits counts the requests it answered.
func site(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	mux.HandleFunc("/img.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngBytes)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><title> Just a title </title><meta name="description" content="Described"></head></html>`)
	})
	mux.HandleFunc("/doc.pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		fmt.Fprint(w, "%PDF-1.4")
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><title>Early</title>`+strings.Repeat("<!-- padding -->", 10000)+`<meta property="og:title" content="Too late"></head></html>`)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/plain", http.StatusFound)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func newPreviewer(t *testing.T, allowPrivate bool) (*urlpreview.Previewer, core.MediaStore) {
	t.Helper()
	g := hearthtest.Open(t)
	p, err := urlpreview.New(urlpreview.Config{ServerName: g.ServerName, Media: g.Client.Media,
		AllowPrivate: allowPrivate, MaxPageBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return p, g.Client.Media
}

func TestPreview(t *testing.T) {
	srv, hits := site(t)
	p, media := newPreviewer(t, true)
	ctx := context.Background()
	const user = "@alice:" + hearthtest.ServerName

	og, err := p.Preview(ctx, user, srv.URL+"/page#frag")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"og:title": "The & OG title", "og:description": "What the page is about",
		"og:site_name": "Site", "og:image:type": "image/png", "matrix:image:size": int64(len(pngBytes))} {
		if og[k] != want {
			t.Errorf("%s = %#v, want %#v (all: %v)", k, og[k], want, og)
		}
	}
	mxc, _ := og["og:image"].(string)
	prefix := "mxc://" + hearthtest.ServerName + "/"
	if !strings.HasPrefix(mxc, prefix) {
		t.Fatalf("og:image %q is not local media", mxc)
	}
	m, err := media.Media(ctx, strings.TrimPrefix(mxc, prefix))
	if err != nil || !m.Uploaded || m.Size != int64(len(pngBytes)) || m.ContentType != "image/png" || m.UserID != user {
		t.Errorf("stored image %+v, %v", m, err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d requests for a page and its image, want 2", n)
	}
	// Cached: no new request (the fragment does not matter).
	again, err := p.Preview(ctx, user, srv.URL+"/page")
	if err != nil || again["og:image"] != mxc || hits.Load() != 2 {
		t.Errorf("second preview %v, %v after %d requests", again, err, hits.Load())
	}

	og, err = p.Preview(ctx, user, srv.URL+"/moved")
	if err != nil || og["og:title"] != "Just a title" || og["og:description"] != "Described" {
		t.Errorf("title fallback through a redirect: %v, %v", og, err)
	}
	og, err = p.Preview(ctx, user, srv.URL+"/img.png")
	if err != nil || !strings.HasPrefix(og["og:image"].(string), prefix) || og["og:image:type"] != "image/png" {
		t.Errorf("an image URL: %v, %v", og, err)
	}
	og, err = p.Preview(ctx, user, srv.URL+"/long")
	if err != nil || og["og:title"] != "Early" {
		t.Errorf("a page past the size limit: %v, %v (want only what came before the cut)", og, err)
	}
	for _, u := range []string{srv.URL + "/doc.pdf", srv.URL + "/missing"} {
		if _, err := p.Preview(ctx, user, u); !isErr(err, "M_UNKNOWN", 502) {
			t.Errorf("Preview(%s) = %v, want 502 M_UNKNOWN", u, err)
		}
	}
	for _, u := range []string{"", "ftp://example.org/", "/relative", "javascript:alert(1)", "http://"} {
		if _, err := p.Preview(ctx, user, u); !isErr(err, "M_INVALID_PARAM", 400) {
			t.Errorf("Preview(%q) = %v, want M_INVALID_PARAM", u, err)
		}
	}
}

// TestPreviewGuard: without url_preview_allow_private the guard refuses
// loopback, also behind a name, and no request reaches the server.
func TestPreviewGuard(t *testing.T) {
	srv, hits := site(t)
	p, _ := newPreviewer(t, false)
	ctx := context.Background()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, u := range []string{srv.URL + "/page", "http://localhost" + port + "/page", "http://[::1]" + port + "/page", "http://127.1" + port + "/page"} {
		if _, err := p.Preview(ctx, "@alice:"+hearthtest.ServerName, u); !isErr(err, "M_UNKNOWN", 502) {
			t.Errorf("Preview(%s) = %v, want refused", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the guarded previewer reached loopback %d times", n)
	}
}

func isErr(err error, code string, status int) bool {
	var me *core.Error
	return errors.As(err, &me) && me.ErrCode == code && me.Status == status
}
