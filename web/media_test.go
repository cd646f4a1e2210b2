package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/internal/hearthtest"
	"hearth.dev/hearth/services"
	"hearth.dev/hearth/storage"
)

// mediaAlice and mediaBob name the two users of a media test server; the
// server's bearer method gives their access tokens.
const (
	mediaAlice = "alice"
	mediaBob   = "bob"
)

// mediaTestServer is a Server with the real media store on a fresh
// database and two users, alice and bob.
type mediaTestServer struct {
	g *services.Graph
	// tokens maps mediaAlice and mediaBob to their access tokens.
	tokens map[string]string
	net    *loopback
	srv    *Server
	db     *storage.DB
	store  *storage.MediaStore
	now    *atomic.Int64 // the server's clock, in ms
}

// newMediaTestServer builds a media test server on the production wiring;
// mods adjust its options.
func newMediaTestServer(tb testing.TB, mods ...func(*Options)) *mediaTestServer {
	tb.Helper()
	ts := &mediaTestServer{now: new(atomic.Int64)}
	ts.now.Store(1_700_000_000_000)
	ts.g = hearthtest.Open(tb, func(c *services.Config) {
		c.Client.Now = func() time.Time { return time.UnixMilli(ts.now.Load()) }
		c.Client.MaxUploadBytes = 1 << 20
		c.Client.LegacyMediaDownload = true
	})
	ts.db, ts.store = ts.g.DB, ts.g.Media
	ts.tokens = map[string]string{
		mediaAlice: hearthtest.CreateUser(tb, ts.g, "alice", false, "A").AccessToken,
		mediaBob:   hearthtest.CreateUser(tb, ts.g, "bob", false, "B").AccessToken,
	}
	ts.srv = mustNewServer(tb, ts.options(mods...))
	ts.net = newLoopback(tb, func() http.Handler { return ts.srv })
	return ts
}

// options are the test server's options, for building another Server on
// the same database.
func (ts *mediaTestServer) options(mods ...func(*Options)) Options {
	o := Options{Services: ts.g.Client}
	for _, m := range mods {
		m(&o)
	}
	return o
}

// bearer returns the access token of mediaAlice or mediaBob; any other
// token is sent as it is.
func (ts *mediaTestServer) bearer(user string) string {
	if tok, ok := ts.tokens[user]; ok {
		return tok
	}
	return user
}

// call sends a request; header holds extra headers ("Content-Type", ...).
func (ts *mediaTestServer) call(tb testing.TB, method, path, token string, body []byte, header ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.bearer(token))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return ts.net.do(tb, req)
}

// upload posts content and returns its media ID.
func (ts *mediaTestServer) upload(tb testing.TB, content []byte, contentType, filename string) string {
	tb.Helper()
	path := "/_matrix/media/v3/upload"
	if filename != "" {
		path += "?filename=" + urlQueryEscape(filename)
	}
	rec := ts.call(tb, "POST", path, mediaAlice, content, "Content-Type", contentType)
	if rec.Code != http.StatusOK {
		tb.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		tb.Fatal(err)
	}
	id, ok := strings.CutPrefix(out.ContentURI, "mxc://example.org/")
	if !ok || !validMediaID(id) {
		tb.Fatalf("upload: content_uri %q is not an mxc:// URI of example.org with a valid media ID", out.ContentURI)
	}
	return id
}

func urlQueryEscape(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", "&", "%26", "?", "%3F", "#", "%23", "+", "%2B", "\"", "%22").Replace(s)
}

// wantMediaError checks a Matrix error answer.
func wantMediaError(tb testing.TB, what string, rec *httptest.ResponseRecorder, status int, errcode string) {
	tb.Helper()
	var body struct {
		ErrCode string `json:"errcode"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != status || body.ErrCode != errcode {
		tb.Errorf("%s: got %d %s, want %d %s", what, rec.Code, strings.TrimSpace(rec.Body.String()), status, errcode)
	}
}

const wantCSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';"

func TestMediaRoundTrip(t *testing.T) {
	ts := newMediaTestServer(t)
	big := make([]byte, 600<<10) // three blocks
	for i := range big {
		big[i] = byte(i*31 + i>>9)
	}
	tests := []struct {
		name, contentType, filename string
		content                     []byte
		wantType, wantDisposition   string
	}{
		{"text", "text/plain", "notes.txt", []byte("hello, world\n"), "text/plain", "inline; filename=notes.txt"},
		{"html is an attachment", "text/html", "page.html", []byte("<script>alert(1)</script>"),
			"text/html", "attachment; filename=page.html"},
		{"no filename", "image/png", "", []byte("not really a png"), "image/png", "inline"},
		{"spaces and unicode", "application/pdf", "War and Peace é.pdf", []byte("%PDF-1.4"),
			"application/pdf", "attachment; filename*=utf-8''War%20and%20Peace%20%C3%A9.pdf"},
		{"type normalised", "Text/Plain; Charset=UTF-8", "a.txt", []byte("x"), "text/plain; charset=UTF-8", "inline; filename=a.txt"},
		{"type unparsable", "not a type", "", []byte("x"), "application/octet-stream", "attachment"},
		{"no type", "", "", []byte("x"), "application/octet-stream", "attachment"},
		{"empty", "text/plain", "empty.txt", nil, "text/plain", "inline; filename=empty.txt"},
		{"several blocks", "video/mp4", "v.mp4", big, "video/mp4", "inline; filename=v.mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ts.upload(t, tt.content, tt.contentType, tt.filename)
			for _, path := range []string{
				"/_matrix/client/v1/media/download/example.org/" + id,
				"/_matrix/media/v3/download/example.org/" + id,
				"/_matrix/media/r0/download/example.org/" + id,
			} {
				token := ""
				if strings.HasPrefix(path, "/_matrix/client/") {
					token = mediaAlice
				}
				rec := ts.call(t, "GET", path, token, nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
				if !bytes.Equal(rec.Body.Bytes(), tt.content) {
					t.Errorf("GET %s: %d bytes back, want the %d uploaded", path, rec.Body.Len(), len(tt.content))
				}
				h := rec.Header()
				got := map[string]string{
					"Content-Type":                 h.Get("Content-Type"),
					"Content-Disposition":          h.Get("Content-Disposition"),
					"Content-Security-Policy":      h.Get("Content-Security-Policy"),
					"Cross-Origin-Resource-Policy": h.Get("Cross-Origin-Resource-Policy"),
					"X-Content-Type-Options":       h.Get("X-Content-Type-Options"),
				}
				want := map[string]string{
					"Content-Type":                 tt.wantType,
					"Content-Disposition":          tt.wantDisposition,
					"Content-Security-Policy":      wantCSP,
					"Cross-Origin-Resource-Policy": "cross-origin",
					"X-Content-Type-Options":       "nosniff",
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("GET %s headers (-want +got):\n%s", path, diff)
				}
			}
			// The file name in the path wins.
			rec := ts.call(t, "GET", "/_matrix/client/v1/media/download/example.org/"+id+"/other%20name.bin", mediaAlice, nil)
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), tt.content) {
				t.Fatalf("download with a file name: %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Disposition"); !strings.HasSuffix(got, `filename="other name.bin"`) {
				t.Errorf("download with a file name: Content-Disposition %q", got)
			}
		})
	}
}

func TestMediaRangesAndCaching(t *testing.T) {
	ts := newMediaTestServer(t)
	content := make([]byte, 300<<10)
	for i := range content {
		content[i] = byte(i / 7)
	}
	id := ts.upload(t, content, "video/mp4", "")
	path := "/_matrix/client/v1/media/download/example.org/" + id

	// A range across the first block boundary.
	from, to := (256<<10)-5, (256<<10)+9
	rec := ts.call(t, "GET", path, mediaAlice, nil, "Range", "bytes="+strconv.Itoa(from)+"-"+strconv.Itoa(to))
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), content[from:to+1]) {
		t.Errorf("range request: %d, %d bytes; want 206 and bytes %d-%d", rec.Code, rec.Body.Len(), from, to)
	}
	// The ETag is the sha256; asking again with it gives 304.
	etag := ts.call(t, "GET", path, mediaAlice, nil).Header().Get("ETag")
	if len(etag) != 66 {
		t.Fatalf("ETag %q is not a quoted sha256", etag)
	}
	if rec := ts.call(t, "GET", path, mediaAlice, nil, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", rec.Code)
	}
	// HEAD gives the length and no body.
	rec = ts.call(t, "HEAD", path, mediaAlice, nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != strconv.Itoa(len(content)) || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d, Content-Length %q, %d body bytes", rec.Code, rec.Header().Get("Content-Length"), rec.Body.Len())
	}
}

func TestMediaConfig(t *testing.T) {
	ts := newMediaTestServer(t, func(o *Options) { o.MaxUploadBytes = 12345 })
	for _, path := range []string{"/_matrix/client/v1/media/config", "/_matrix/media/v3/config", "/_matrix/media/r0/config"} {
		rec := ts.call(t, "GET", path, mediaAlice, nil)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if diff := cmp.Diff(map[string]any{"m.upload.size": float64(12345)}, out); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", path, diff)
		}
	}
	// The default limit is 50 MiB.
	ts = newMediaTestServer(t, func(o *Options) { o.MaxUploadBytes = 0 })
	rec := ts.call(t, "GET", "/_matrix/client/v1/media/config", mediaAlice, nil)
	if !strings.Contains(rec.Body.String(), `"m.upload.size":52428800`) {
		t.Errorf("default config: %s", rec.Body)
	}
}

func TestMediaErrors(t *testing.T) {
	ts := newMediaTestServer(t, func(o *Options) { o.MaxUploadBytes = 100 })
	id := ts.upload(t, []byte("plain text"), "text/plain", "")
	dl := "/_matrix/client/v1/media/download/example.org/"
	th := "/_matrix/client/v1/media/thumbnail/example.org/" + id
	tests := []struct {
		name, method, path, token string
		body                      []byte
		status                    int
		errcode                   string
	}{
		{"upload without token", "POST", "/_matrix/media/v3/upload", "", []byte("x"), 401, "M_MISSING_TOKEN"},
		{"upload with unknown token", "POST", "/_matrix/media/v3/upload", "nope", []byte("x"), 401, "M_UNKNOWN_TOKEN"},
		{"create without token", "POST", "/_matrix/media/v1/create", "", nil, 401, "M_MISSING_TOKEN"},
		{"put without token", "PUT", "/_matrix/media/v3/upload/example.org/" + id, "", []byte("x"), 401, "M_MISSING_TOKEN"},
		{"download without token", "GET", dl + id, "", nil, 401, "M_MISSING_TOKEN"},
		{"thumbnail without token", "GET", th + "?width=32&height=32", "", nil, 401, "M_MISSING_TOKEN"},
		{"config without token", "GET", "/_matrix/client/v1/media/config", "", nil, 401, "M_MISSING_TOKEN"},
		{"legacy config without token", "GET", "/_matrix/media/v3/config", "", nil, 401, "M_MISSING_TOKEN"},
		{"preview without token", "GET", "/_matrix/client/v1/media/preview_url?url=https://example.com", "", nil, 401, "M_MISSING_TOKEN"},

		{"too large", "POST", "/_matrix/media/v3/upload", mediaAlice, make([]byte, 101), 413, "M_TOO_LARGE"},
		{"bad filename", "POST", "/_matrix/media/v3/upload?filename=%ff", mediaAlice, []byte("x"), 400, "M_INVALID_PARAM"},

		{"unknown media", "GET", dl + "nosuchmedia", mediaAlice, nil, 404, "M_NOT_FOUND"},
		{"unknown media, legacy", "GET", "/_matrix/media/v3/download/example.org/nosuchmedia", "", nil, 404, "M_NOT_FOUND"},
		{"remote media", "GET", dl + "matrix.org/" + id, mediaAlice, nil, 404, "M_NOT_FOUND"},
		{"malformed media ID", "GET", dl + "example.org/a.b", mediaAlice, nil, 404, "M_NOT_FOUND"},
		{"malformed server name", "GET", dl + "exa_mple!/" + id, mediaAlice, nil, 404, "M_NOT_FOUND"},
		{"unknown thumbnail", "GET", "/_matrix/client/v1/media/thumbnail/example.org/nosuch?width=3&height=3", mediaAlice, nil, 404, "M_NOT_FOUND"},
		{"bad timeout", "GET", dl + id + "?timeout_ms=soon", mediaAlice, nil, 400, "M_INVALID_PARAM"},

		{"thumbnail without width", "GET", th + "?height=32", mediaAlice, nil, 400, "M_MISSING_PARAM"},
		{"thumbnail without height", "GET", th + "?width=32", mediaAlice, nil, 400, "M_MISSING_PARAM"},
		{"thumbnail width not a number", "GET", th + "?width=abc&height=32", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail width zero", "GET", th + "?width=0&height=32", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail height negative", "GET", th + "?width=32&height=-5", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail height fractional", "GET", th + "?width=32&height=3.5", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail width huge", "GET", th + "?width=99999999999&height=3", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail bad method", "GET", th + "?width=32&height=32&method=stretch", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail bad animated", "GET", th + "?width=32&height=32&animated=maybe", mediaAlice, nil, 400, "M_INVALID_PARAM"},
		{"thumbnail of text", "GET", th + "?width=32&height=32", mediaAlice, nil, 400, "M_UNKNOWN"},

		{"preview off", "GET", "/_matrix/client/v1/media/preview_url?url=https://example.com", mediaAlice, nil, 404, "M_UNRECOGNIZED"},
		{"legacy preview off", "GET", "/_matrix/media/v3/preview_url?url=https://example.com", mediaAlice, nil, 404, "M_UNRECOGNIZED"},

		{"DELETE config", "DELETE", "/_matrix/client/v1/media/config", mediaAlice, nil, 405, "M_UNRECOGNIZED"},
		{"GET upload", "GET", "/_matrix/media/v3/upload", mediaAlice, nil, 405, "M_UNRECOGNIZED"},
		{"POST download", "POST", dl + "example.org/" + id, mediaAlice, nil, 405, "M_UNRECOGNIZED"},
		{"GET create", "GET", "/_matrix/media/v1/create", mediaAlice, nil, 405, "M_UNRECOGNIZED"},
		{"PUT legacy thumbnail", "PUT", "/_matrix/media/v3/thumbnail/example.org/" + id, "", nil, 405, "M_UNRECOGNIZED"},
	}
	for _, tt := range tests {
		rec := ts.call(t, tt.method, tt.path, tt.token, tt.body)
		wantMediaError(t, tt.name, rec, tt.status, tt.errcode)
		if tt.status == 405 && rec.Header().Get("Allow") == "" {
			t.Errorf("%s: 405 without an Allow header", tt.name)
		}
	}

	// Too large without a Content-Length: refused while streaming, and
	// nothing is kept.
	req := httptest.NewRequest("POST", "/_matrix/media/v3/upload", io.MultiReader(bytes.NewReader(make([]byte, 60)), bytes.NewReader(make([]byte, 60))))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+ts.bearer(mediaAlice))
	rec := ts.net.do(t, req)
	wantMediaError(t, "too large, streamed", rec, 413, "M_TOO_LARGE")
	var n int
	if err := ts.db.Reader().QueryRow("SELECT count(*) FROM media").Scan(&n); err != nil || n != 1 {
		t.Errorf("media rows after refused uploads: %d, %v; want 1", n, err)
	}
	// Exactly at the limit is accepted.
	ts.upload(t, make([]byte, 100), "application/octet-stream", "")
}

// mediaStripes is a w × h image in three vertical bands: red, green, blue.
func mediaStripes(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{0, 255, 0, 255}
			if x < w/3 {
				c = color.RGBA{255, 0, 0, 255}
			} else if x >= w-w/3 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func mediaPNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func mediaJPEG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// mediaGIF encodes frames as one (animated if more than one) GIF.
func mediaGIF(tb testing.TB, frames ...image.Image) []byte {
	tb.Helper()
	g := &gif.GIF{}
	for _, f := range frames {
		p := image.NewPaletted(f.Bounds(), palette.Plan9)
		for y := f.Bounds().Min.Y; y < f.Bounds().Max.Y; y++ {
			for x := f.Bounds().Min.X; x < f.Bounds().Max.X; x++ {
				p.Set(x, y, f.At(x, y))
			}
		}
		g.Image, g.Delay = append(g.Image, p), append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestMediaThumbnail(t *testing.T) {
	ts := newMediaTestServer(t)
	photo := mediaPNG(t, mediaStripes(400, 300))
	pngID := ts.upload(t, photo, "image/png", "photo.png")
	jpegID := ts.upload(t, mediaJPEG(t, mediaStripes(400, 300)), "image/jpeg", "")
	smallGIF := mediaGIF(t, mediaStripes(60, 30), mediaStripes(60, 30))
	gifID := ts.upload(t, smallGIF, "image/gif", "")
	tests := []struct {
		name, id, query string
		legacy          bool
		wantType        string
		wantW, wantH    int
		wantOriginal    []byte // the upload itself is the thumbnail
	}{
		{"crop 96", pngID, "width=96&height=96&method=crop", false, "image/png", 96, 96, nil},
		{"crop 32", pngID, "width=20&height=20&method=crop", false, "image/png", 32, 32, nil},
		{"scale 320x240", pngID, "width=320&height=240&method=scale", false, "image/png", 320, 240, nil},
		{"scale rounded up to a standard size", pngID, "width=100&height=100", false, "image/png", 320, 240, nil},
		{"crop of an odd aspect", pngID, "width=40&height=20&method=crop", false, "image/png", 40, 20, nil},
		{"larger than the image", pngID, "width=1000&height=1000&method=scale", false, "image/png", 400, 300, photo},
		{"jpeg stays jpeg", jpegID, "width=96&height=96&method=crop", false, "image/jpeg", 96, 96, nil},
		{"legacy endpoint", pngID, "width=96&height=96&method=crop", true, "image/png", 96, 96, nil},
		{"small animated, animation asked", gifID, "width=320&height=240&animated=true", false, "image/gif", 60, 30, smallGIF},
		{"small animated, still asked", gifID, "width=320&height=240&animated=false", false, "image/png", 60, 30, nil},
		{"small animated, nothing said", gifID, "width=320&height=240", false, "image/png", 60, 30, nil},
		{"animated cropped", gifID, "width=20&height=20&method=crop&animated=true", false, "image/png", 30, 30, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, token := "/_matrix/client/v1/media/thumbnail/example.org/"+tt.id+"?"+tt.query, mediaAlice
			if tt.legacy {
				path, token = "/_matrix/media/v3/thumbnail/example.org/"+tt.id+"?"+tt.query, ""
			}
			var first []byte
			for round := range 2 { // the second answer comes from the cache
				rec := ts.call(t, "GET", path, token, nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("round %d: %d %s", round, rec.Code, rec.Body)
				}
				if got := rec.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("round %d: Content-Type %q, want %q", round, got, tt.wantType)
				}
				wantDisp := "inline; filename=thumbnail." + strings.TrimPrefix(tt.wantType, "image/")
				if got := rec.Header().Get("Content-Disposition"); got != wantDisp {
					t.Errorf("round %d: Content-Disposition %q, want %q", round, got, wantDisp)
				}
				if got := rec.Header().Get("Content-Security-Policy"); got != wantCSP {
					t.Errorf("round %d: Content-Security-Policy %q", round, got)
				}
				cfg, format, err := image.DecodeConfig(bytes.NewReader(rec.Body.Bytes()))
				if err != nil {
					t.Fatalf("round %d: thumbnail does not decode: %v", round, err)
				}
				if "image/"+format != tt.wantType || cfg.Width != tt.wantW || cfg.Height != tt.wantH {
					t.Errorf("round %d: thumbnail is %s %dx%d, want %s %dx%d", round, format, cfg.Width, cfg.Height, tt.wantType, tt.wantW, tt.wantH)
				}
				if tt.wantOriginal != nil && !bytes.Equal(rec.Body.Bytes(), tt.wantOriginal) {
					t.Errorf("round %d: the thumbnail is not the original content", round)
				}
				if round == 0 {
					first = rec.Body.Bytes()
				} else if !bytes.Equal(first, rec.Body.Bytes()) {
					t.Errorf("the cached thumbnail differs from the first")
				}
			}
		})
	}
	// Equal requests share one cached thumbnail per bucket.
	var n int
	if err := ts.db.Reader().QueryRow("SELECT count(*) FROM media_thumbnails").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Errorf("media_thumbnails has %d rows, want 9", n)
	}
}

func TestMediaThumbnailTooLarge(t *testing.T) {
	ts := newMediaTestServer(t)
	// A PNG header claiming 10000 × 10000 pixels: refused before decoding.
	huge := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x27\x10\x00\x00\x27\x10\x08\x06\x00\x00\x00\x00\x00\x00\x00" +
		"\x00\x00\x00\x02IDAT\x78\x9c\x00\x00\x00\x00")
	id := ts.upload(t, huge, "image/png", "")
	rec := ts.call(t, "GET", "/_matrix/client/v1/media/thumbnail/example.org/"+id+"?width=32&height=32&method=crop", mediaAlice, nil)
	wantMediaError(t, "thumbnail of 10000x10000", rec, 413, "M_TOO_LARGE")
}

func TestMediaCreateAndPut(t *testing.T) {
	ts := newMediaTestServer(t)
	rec := ts.call(t, "POST", "/_matrix/media/v1/create", mediaAlice, []byte("{}"))
	var out struct {
		ContentURI      string `json:"content_uri"`
		UnusedExpiresAt int64  `json:"unused_expires_at"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id, ok := strings.CutPrefix(out.ContentURI, "mxc://example.org/")
	if !ok || !validMediaID(id) {
		t.Fatalf("create: content_uri %q", out.ContentURI)
	}
	if want := ts.now.Load() + 24*60*60*1000; out.UnusedExpiresAt != want {
		t.Errorf("unused_expires_at = %d, want %d", out.UnusedExpiresAt, want)
	}
	dl := "/_matrix/client/v1/media/download/example.org/" + id
	put := "/_matrix/media/v3/upload/example.org/" + id

	wantMediaError(t, "download before the upload", ts.call(t, "GET", dl+"?timeout_ms=20", mediaAlice, nil), 504, "M_NOT_YET_UPLOADED")
	wantMediaError(t, "PUT by another user", ts.call(t, "PUT", put, mediaBob, []byte("x")), 403, "M_FORBIDDEN")
	wantMediaError(t, "PUT to an ID never created", ts.call(t, "PUT", "/_matrix/media/v3/upload/example.org/nevermade", mediaAlice, []byte("x")), 404, "M_NOT_FOUND")
	wantMediaError(t, "PUT to another server", ts.call(t, "PUT", "/_matrix/media/v3/upload/other.org/"+id, mediaAlice, []byte("x")), 404, "M_NOT_FOUND")

	// A download waiting for the content gets it when the PUT lands.
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		req := httptest.NewRequest("GET", dl+"?timeout_ms=10000", nil)
		req.Header.Set("Authorization", "Bearer "+ts.bearer(mediaAlice))
		done <- ts.net.do(t, req)
	}()
	time.Sleep(20 * time.Millisecond) // let it start waiting (it finds the content either way)
	rec = ts.call(t, "PUT", put+"?filename=late.txt", mediaAlice, []byte("arrived"), "Content-Type", "text/plain")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	select {
	case rec := <-done:
		if rec.Code != http.StatusOK || rec.Body.String() != "arrived" {
			t.Errorf("waiting download: %d %q", rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Content-Disposition"); got != "inline; filename=late.txt" {
			t.Errorf("waiting download: Content-Disposition %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting download did not return after the upload")
	}
	wantMediaError(t, "PUT again", ts.call(t, "PUT", put, mediaAlice, []byte("again")), 409, "M_CANNOT_OVERWRITE_MEDIA")

	// An unused ID expires after a day.
	rec = ts.call(t, "POST", "/_matrix/media/v1/create", mediaAlice, nil)
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	id2 := strings.TrimPrefix(out.ContentURI, "mxc://example.org/")
	ts.now.Add(24*60*60*1000 + 1)
	wantMediaError(t, "download of an expired ID", ts.call(t, "GET", "/_matrix/client/v1/media/download/example.org/"+id2, mediaAlice, nil), 404, "M_NOT_FOUND")
	wantMediaError(t, "PUT to an expired ID", ts.call(t, "PUT", "/_matrix/media/v3/upload/example.org/"+id2, mediaAlice, []byte("x")), 404, "M_NOT_FOUND")
}

func TestMediaPendingLimit(t *testing.T) {
	ts := newMediaTestServer(t)
	for i := range maxPendingMedia {
		if rec := ts.call(t, "POST", "/_matrix/media/v1/create", mediaAlice, nil); rec.Code != http.StatusOK {
			t.Fatalf("create %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	wantMediaError(t, "one create too many", ts.call(t, "POST", "/_matrix/media/v1/create", mediaAlice, nil), 429, "M_LIMIT_EXCEEDED")
	if rec := ts.call(t, "POST", "/_matrix/media/v1/create", mediaBob, nil); rec.Code != http.StatusOK {
		t.Errorf("another user's create: %d %s", rec.Code, rec.Body)
	}
}

func TestMediaLegacyFreeze(t *testing.T) {
	ts := newMediaTestServer(t)
	img := mediaPNG(t, mediaStripes(90, 60))
	before := ts.upload(t, img, "image/png", "")
	// The server restarts with the unauthenticated endpoints frozen.
	ts.srv = mustNewServer(t, ts.options(func(o *Options) { o.LegacyMediaDownload = false }))
	after := ts.upload(t, append(img[:len(img):len(img)], 0), "image/png", "")

	legacy := func(id string) (int, int) {
		dl := ts.call(t, "GET", "/_matrix/media/v3/download/example.org/"+id, "", nil)
		th := ts.call(t, "GET", "/_matrix/media/v3/thumbnail/example.org/"+id+"?width=32&height=32&method=crop", "", nil)
		return dl.Code, th.Code
	}
	if dl, th := legacy(before); dl != 200 || th != 200 {
		t.Errorf("media from before the freeze, legacy endpoints: download %d, thumbnail %d; want 200, 200", dl, th)
	}
	if dl, th := legacy(after); dl != 404 || th != 404 {
		t.Errorf("media from during the freeze, legacy endpoints: download %d, thumbnail %d; want 404, 404", dl, th)
	}
	wantMediaError(t, "frozen legacy download", ts.call(t, "GET", "/_matrix/media/v3/download/example.org/"+after, "", nil), 404, "M_NOT_FOUND")
	if rec := ts.call(t, "GET", "/_matrix/client/v1/media/download/example.org/"+after, mediaAlice, nil); rec.Code != 200 {
		t.Errorf("frozen media on the authenticated endpoint: %d", rec.Code)
	}
	// Turned back on, the legacy endpoints serve everything again.
	ts.srv = mustNewServer(t, ts.options())
	if dl, th := legacy(after); dl != 200 || th != 200 {
		t.Errorf("after the thaw: download %d, thumbnail %d; want 200, 200", dl, th)
	}
}

// TestNewServerRefusesMissingService checks that a missing service stops
// the server from being built instead of leaving its routes out.
func TestNewServerRefusesMissingService(t *testing.T) {
	ts := newMediaTestServer(t)
	o := ts.options()
	o.Media = nil
	o.Receipts = nil
	_, err := NewServer(o)
	if err == nil || !strings.Contains(err.Error(), "MediaServices.Media") || !strings.Contains(err.Error(), "PersonalServices.Receipts") {
		t.Errorf("NewServer without media and receipts = %v, want an error naming both", err)
	}
}

func BenchmarkMediaUpload1MiB(b *testing.B) {
	ts := newMediaTestServer(b, func(o *Options) { o.MaxUploadBytes = 2 << 20 })
	content := make([]byte, 1<<20)
	b.SetBytes(int64(len(content)))
	for i := 0; b.Loop(); i++ {
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16) // no deduplication
		rec := ts.call(b, "POST", "/_matrix/media/v3/upload", mediaAlice, content, "Content-Type", "application/octet-stream")
		if rec.Code != http.StatusOK {
			b.Fatalf("upload: %d %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkMediaDownload1MiB(b *testing.B) {
	ts := newMediaTestServer(b, func(o *Options) { o.MaxUploadBytes = 2 << 20 })
	content := make([]byte, 1<<20)
	for i := range content {
		content[i] = byte(i)
	}
	id := ts.upload(b, content, "application/octet-stream", "")
	path := "/_matrix/client/v1/media/download/example.org/" + id
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+ts.bearer(mediaAlice))
		w := &countingWriter{header: http.Header{}}
		ts.srv.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != len(content) {
			b.Fatalf("download: %d, %d bytes", w.status, w.n)
		}
	}
}

// countingWriter is a ResponseWriter that counts the body and keeps none
// of it, so the download benchmark measures the server, not a buffer.
type countingWriter struct {
	header http.Header
	status int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }

func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// TestMediaWithRegisteredUser runs the media endpoints with a real account
// and access token from the account store.
func TestMediaWithRegisteredUser(t *testing.T) {
	ts := newTestServer(t)
	alice := ts.registerTestUser(t, "alice")
	rec := ts.record(t, "POST", "/_matrix/media/v3/upload?filename=hello.txt", alice.AccessToken, []byte("hello"))
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	mediaID, ok := strings.CutPrefix(out.ContentURI, "mxc://"+testServerName+"/")
	if !ok {
		t.Fatalf("content_uri %q", out.ContentURI)
	}
	m, err := ts.Server.opts.Media.Media(context.Background(), mediaID)
	if err != nil || m.UserID != alice.UserID || m.UploadName != "hello.txt" {
		t.Errorf("stored media = %+v, %v; want uploaded by %s as hello.txt", m, err, alice.UserID)
	}
	path := "/_matrix/client/v1/media/download/" + testServerName + "/" + mediaID
	rec = ts.record(t, "GET", path, alice.AccessToken, nil)
	if rec.Code != http.StatusOK || rec.Body.String() != "hello" {
		t.Errorf("download: %d %q", rec.Code, rec.Body)
	}
	status, body := ts.do(t, "GET", path, "not-a-token", nil)
	wantError(t, "download with an unknown token", status, body, 401, "M_UNKNOWN_TOKEN")
}
