package federation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"

	"hearth.dev/hearth/core"
)

// LocalMedia serves this server's media as the client API does (web's
// Server implements it): content, or a thumbnail from r's query.
type LocalMedia interface {
	ServeLocalMedia(w http.ResponseWriter, r *http.Request, mediaID string, thumbnail bool) error
}

// mediaDownload answers GET /_matrix/federation/v1/media/download/{mediaId}
// and .../thumbnail/{mediaId}: a multipart/mixed body of the metadata ({})
// and the content (server-server API, "Content Repository").
func (m *Messaging) mediaDownload(thumbnail bool) func(w http.ResponseWriter, r *http.Request, origin string) error {
	return func(w http.ResponseWriter, r *http.Request, origin string) error {
		// Whole content only: no ranges or conditional answers inside a
		// multipart body.
		r = r.Clone(r.Context())
		for _, h := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"} {
			r.Header.Del(h)
		}
		pw := &partWriter{w: w, h: http.Header{}}
		if err := m.opts.Media.ServeLocalMedia(pw, r, r.PathValue("mediaID"), thumbnail); err != nil {
			if pw.started {
				return nil // the answer is under way; nothing more can be said
			}
			return err
		}
		if !pw.started {
			pw.start()
		}
		return pw.close()
	}
}

// partWriter is the http.ResponseWriter the local media is served into:
// the headers it is given become the content part's, and the first write
// starts the multipart answer.
type partWriter struct {
	w       http.ResponseWriter
	h       http.Header
	mw      *multipart.Writer
	part    io.Writer
	started bool
	err     error
}

func (p *partWriter) Header() http.Header { return p.h }

func (p *partWriter) WriteHeader(status int) { p.start() }

func (p *partWriter) Write(b []byte) (int, error) {
	p.start()
	if p.err != nil {
		return 0, p.err
	}
	return p.part.Write(b)
}

func (p *partWriter) start() {
	if p.started {
		return
	}
	p.started = true
	p.mw = multipart.NewWriter(p.w)
	p.w.Header().Set("Content-Type", "multipart/mixed; boundary="+p.mw.Boundary())
	p.w.WriteHeader(http.StatusOK)
	meta, err := p.mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		p.err = err
		return
	}
	if _, p.err = io.WriteString(meta, "{}"); p.err != nil {
		return
	}
	ph := textproto.MIMEHeader{}
	for _, k := range []string{"Content-Type", "Content-Disposition"} {
		if v := p.h.Get(k); v != "" {
			ph.Set(k, v)
		}
	}
	p.part, p.err = p.mw.CreatePart(ph)
}

func (p *partWriter) close() error {
	if p.err != nil {
		return nil // the client went away; the answer is cut short
	}
	return p.mw.Close()
}

// maxMediaMetadata bounds the JSON part of a media answer.
const maxMediaMetadata = 64 * 1024

// FetchMedia fetches mxc://server/mediaID, or its thumbnail when thumbnail
// holds the query (width, height, method, animated), through c: the
// content part's type, its Content-Disposition and its body, cut with an
// error past maxSize bytes. The caller closes the body.
func (c *Client) FetchMedia(ctx context.Context, server, mediaID string, thumbnail url.Values, maxSize int64) (string, string, io.ReadCloser, error) {
	path := "/_matrix/federation/v1/media/download/" + url.PathEscape(mediaID)
	if thumbnail != nil {
		path = "/_matrix/federation/v1/media/thumbnail/" + url.PathEscape(mediaID) + "?" + thumbnail.Encode()
	}
	resp, err := c.RequestRaw(ctx, server, "GET", path, nil)
	if err != nil {
		return "", "", nil, AsMatrixError(err)
	}
	fail := func(err error) (string, string, io.ReadCloser, error) {
		resp.Body.Close()
		return "", "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := readLimited(resp.Body, 64*1024)
		return fail(AsMatrixError(remoteError(server, resp.StatusCode, data)))
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return fail(core.ErrUnavailable.WithMessage("%s answered the media request with %q, not multipart/mixed", server, resp.Header.Get("Content-Type")))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return fail(core.ErrUnavailable.WithMessage("%s's media answer has no metadata part", server))
	}
	var md map[string]any
	if b, err := readLimited(meta, maxMediaMetadata); err != nil || json.Unmarshal(b, &md) != nil {
		return fail(core.ErrUnavailable.WithMessage("%s's media metadata is not a JSON object", server))
	}
	content, err := mr.NextPart()
	if err != nil {
		return fail(core.ErrUnavailable.WithMessage("%s's media answer has no content part", server))
	}
	if content.Header.Get("Location") != "" {
		// Redirects to another URL are not followed: that URL is reached
		// without federation's authentication and SSRF guard.
		return fail(core.ErrUnavailable.WithMessage("%s redirects its media elsewhere, which this server does not follow", server))
	}
	ct := content.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	return ct, content.Header.Get("Content-Disposition"), &limitedBody{r: content, left: maxSize, closer: resp.Body}, nil
}

// errMediaTooLarge ends a remote media body past the size limit.
var errMediaTooLarge = errors.New("federation: remote media larger than the limit")

type limitedBody struct {
	r      io.Reader
	left   int64
	closer io.Closer
}

func (l *limitedBody) Read(b []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errMediaTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.closer.Close() }
