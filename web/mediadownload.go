package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/thumbnail"
)

// getMediaDownload is GET /_matrix/client/v1/media/download/{serverName}/
// {mediaId}[/{fileName}].
func (s *Server) getMediaDownload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	return s.serveMediaDownload(w, r, false)
}

// getLegacyMediaDownload is the deprecated unauthenticated
// GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}].
func (s *Server) getLegacyMediaDownload(w http.ResponseWriter, r *http.Request) error {
	return s.serveMediaDownload(w, r, true)
}

// getMediaThumbnail is GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}.
func (s *Server) getMediaThumbnail(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	return s.serveMediaThumbnail(w, r, false)
}

// getLegacyMediaThumbnail is the deprecated unauthenticated
// GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}.
func (s *Server) getLegacyMediaThumbnail(w http.ResponseWriter, r *http.Request) error {
	return s.serveMediaThumbnail(w, r, true)
}

// mediaWait reads timeout_ms: how long to wait for a created ID's content.
func mediaWait(r *http.Request) (time.Duration, error) {
	ms := int64(defaultMediaWait)
	if v := r.URL.Query().Get("timeout_ms"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, core.ErrInvalidParam.WithMessage("timeout_ms must be an integer")
		}
		ms = min(max(n, 0), maxMediaWait)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// findMedia returns the request's local media once it has content,
// waiting up to timeout_ms for a created ID's upload (then
// M_NOT_YET_UPLOADED). For the deprecated unauthenticated endpoints, media
// uploaded while they were frozen is M_NOT_FOUND, as the spec allows.
func (s *Server) findMedia(r *http.Request, legacy bool) (core.Media, error) {
	mediaID, err := s.localMediaID(r)
	if err != nil {
		return core.Media{}, err
	}
	wait, err := mediaWait(r)
	if err != nil {
		return core.Media{}, err
	}
	ctx := r.Context()
	var timeout <-chan time.Time
	for {
		changed := s.repo.uploaded.Changed()
		m, err := s.opts.Media.Media(ctx, mediaID)
		if err != nil {
			return core.Media{}, err
		}
		if m.Uploaded {
			if legacy && !s.opts.LegacyMediaDownload && !m.LegacyDownload {
				return core.Media{}, core.ErrNotFound.WithMessage(
					"Media uploaded after the freeze of unauthenticated media is only served by /_matrix/client/v1/media")
			}
			return m, nil
		}
		if m.UnusedExpiresTS <= s.opts.Now().UnixMilli() {
			return core.Media{}, core.ErrNotFound.WithMessage("Unknown media")
		}
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
			return core.Media{}, core.ErrNotYetUploaded
		case <-ctx.Done():
			return core.Media{}, ctx.Err()
		}
	}
}

func (s *Server) serveMediaDownload(w http.ResponseWriter, r *http.Request, legacy bool) error {
	if remote, err := s.serveRemoteMedia(w, r, false); remote {
		return err
	}
	m, err := s.findMedia(r, legacy)
	if err != nil {
		return err
	}
	name := m.UploadName
	if fn := r.PathValue("fileName"); fn != "" {
		name = fn
	}
	ct := servedContentType(m.ContentType)
	h := w.Header()
	setMediaHeaders(h)
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition(ct, name))
	h.Set("ETag", `"`+m.SHA256+`"`)
	http.ServeContent(w, r, "", time.UnixMilli(m.CreatedTS), newMediaReader(r.Context(), s.opts.Media, m))
	return nil
}

// thumbnailRequest is the query of a thumbnail request.
type thumbnailRequest struct {
	width, height int
	method        thumbnail.Method
	animated      bool
}

func parseThumbnailRequest(r *http.Request) (thumbnailRequest, error) {
	q := r.URL.Query()
	var t thumbnailRequest
	for _, d := range []struct {
		name string
		v    *int
	}{{"width", &t.width}, {"height", &t.height}} {
		v := q.Get(d.name)
		if v == "" {
			return t, core.ErrMissingParam.WithMessage("%s is required", d.name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1<<16 {
			return t, core.ErrInvalidParam.WithMessage("%s must be a positive integer up to 65536", d.name)
		}
		*d.v = n
	}
	switch m := q.Get("method"); m {
	case "", "scale":
		t.method = thumbnail.Scale
	case "crop":
		t.method = thumbnail.Crop
	default:
		return t, core.ErrInvalidParam.WithMessage("method must be crop or scale")
	}
	switch a := q.Get("animated"); a {
	case "", "false":
	case "true":
		t.animated = true
	default:
		return t, core.ErrInvalidParam.WithMessage("animated must be true or false")
	}
	return t, nil
}

var (
	errCannotThumbnail  = core.ErrUnknown.WithStatus(http.StatusBadRequest).WithMessage("Cannot generate thumbnails for the requested content")
	errTooLargeForThumb = core.ErrTooLarge.WithMessage("Content is too large to thumbnail")
)

func (s *Server) serveMediaThumbnail(w http.ResponseWriter, r *http.Request, legacy bool) error {
	if remote, err := s.serveRemoteMedia(w, r, true); remote {
		return err
	}
	req, err := parseThumbnailRequest(r)
	if err != nil {
		return err
	}
	m, err := s.findMedia(r, legacy)
	if err != nil {
		return err
	}
	ctx := r.Context()
	bw, bh := thumbnail.Bucket(req.width, req.height, req.method)
	key := core.ThumbnailKey{Width: bw, Height: bh, Method: string(req.method), Animated: req.animated}
	t, err := s.opts.Media.Thumbnail(ctx, m.MediaID, key)
	if errors.Is(err, core.ErrNotFound) {
		t, err = s.makeThumbnail(ctx, m, key)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	setMediaHeaders(h)
	h.Set("Content-Type", t.ContentType)
	h.Set("Content-Disposition", contentDisposition(t.ContentType, "thumbnail."+t.ContentType[len("image/"):]))
	h.Set("ETag", fmt.Sprintf(`"%s-%dx%d-%s-%t"`, m.SHA256, key.Width, key.Height, key.Method, key.Animated))
	var content io.ReadSeeker = bytes.NewReader(t.Data)
	if t.Original {
		content = newMediaReader(ctx, s.opts.Media, m)
	}
	http.ServeContent(w, r, "", time.UnixMilli(m.CreatedTS), content)
	return nil
}

// makeThumbnail makes and caches m's thumbnail for key. The content itself
// serves when it is no larger than asked ("When the content is smaller
// than the requested dimensions, servers should return the original
// content"), unless it is animated and animation was not asked for: then
// a still image of the same size is made ("When false, the server MUST NOT
// return an animated thumbnail"). Animated thumbnails are not made: a
// larger animated image gives a still thumbnail of its first frame.
func (s *Server) makeThumbnail(ctx context.Context, m core.Media, key core.ThumbnailKey) (core.Thumbnail, error) {
	select {
	case s.repo.jobs <- struct{}{}:
		defer func() { <-s.repo.jobs }()
	case <-ctx.Done():
		return core.Thumbnail{}, ctx.Err()
	}
	rd := newMediaReader(ctx, s.opts.Media, m)
	info, err := thumbnail.Probe(rd)
	if err != nil {
		if rd.err != nil {
			return core.Thumbnail{}, rd.err
		}
		return core.Thumbnail{}, errCannotThumbnail
	}
	if info.Pixels() > thumbnail.MaxPixels {
		return core.Thumbnail{}, errTooLargeForThumb
	}
	plan := thumbnail.PlanFor(info.Width, info.Height, key.Width, key.Height, thumbnail.Method(key.Method))
	t := core.Thumbnail{Key: key}
	if plan.Identity(info.Width, info.Height) && (!info.Animated || key.Animated) {
		t.Original, t.ContentType, t.Width, t.Height = true, info.Format.ContentType(), info.Width, info.Height
	} else {
		if _, err := rd.Seek(0, io.SeekStart); err != nil {
			return core.Thumbnail{}, err
		}
		res, err := thumbnail.Generate(rd, info, plan)
		switch {
		case rd.err != nil:
			return core.Thumbnail{}, rd.err
		case errors.Is(err, thumbnail.ErrTooLarge):
			return core.Thumbnail{}, errTooLargeForThumb
		case err != nil:
			return core.Thumbnail{}, errCannotThumbnail
		}
		t.ContentType, t.Width, t.Height, t.Data = res.ContentType, res.Width, res.Height, res.Data
	}
	if err := s.opts.Media.StoreThumbnail(ctx, m.MediaID, t); err != nil {
		// Still serve it; the next request makes it again.
		slog.WarnContext(ctx, "caching a thumbnail failed", "media_id", m.MediaID, "err", err)
	}
	return t, nil
}

// mediaReader reads stored content as the io.ReadSeeker http.ServeContent
// and the thumbnailer want, one block (core.MediaBlockSize) at a time, so
// serving a file holds one block in memory and no database connection
// between reads. It belongs to the request whose context it carries and
// lives no longer than that request.
type mediaReader struct {
	ctx    context.Context
	store  core.MediaStore
	id     string
	size   int64
	off    int64
	buf    []byte
	bufOff int64
	bufLen int
	// err is the first error of the store, kept so that a decoder's
	// "corrupt image" is not mistaken for a failing database.
	err error
}

func newMediaReader(ctx context.Context, store core.MediaStore, m core.Media) *mediaReader {
	return &mediaReader{ctx: ctx, store: store, id: m.MediaID, size: m.Size}
}

func (r *mediaReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.off < r.bufOff || r.off >= r.bufOff+int64(r.bufLen) {
		if r.buf == nil {
			r.buf = make([]byte, min(r.size, core.MediaBlockSize))
		}
		start := r.off - r.off%core.MediaBlockSize
		n, err := r.store.ReadMediaAt(r.ctx, r.id, r.buf, start)
		if err != nil && err != io.EOF {
			r.err = err
			return 0, err
		}
		if start+int64(n) <= r.off {
			r.err = fmt.Errorf("media %s: content ends at %d of %d bytes", r.id, start+int64(n), r.size)
			return 0, r.err
		}
		r.bufOff, r.bufLen = start, n
	}
	n := copy(p, r.buf[r.off-r.bufOff:r.bufLen])
	r.off += int64(n)
	return n, nil
}

func (r *mediaReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("media reader: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("media reader: negative position")
	}
	r.off = offset
	return offset, nil
}
