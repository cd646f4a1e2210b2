package web

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// The content repository (client-server API "Content repository"): uploads
// (POST /media/v3/upload, and POST /media/v1/create + PUT
// /media/v3/upload/{serverName}/{mediaId}), the authenticated downloads and
// thumbnails of 1.11 under /_matrix/client/v1/media, their deprecated
// unauthenticated forms under /_matrix/media/v3, and the repository's
// config. Content lives in core.MediaStore (the database); thumbnails are
// made by core/thumbnail and cached there.
//
// Only local media is served: hearth does not federate yet, so a download
// of another server's mxc:// URI is M_NOT_FOUND. URL previews are turned
// off (M_UNRECOGNIZED) unless media.url_preview turns them on.

// DefaultMaxUploadBytes bounds uploads when Options.MaxUploadBytes is 0.
const DefaultMaxUploadBytes = 50 << 20

const (
	// unusedMediaLifetime is how long an ID from POST /media/v1/create
	// waits for its content: the spec's recommended 24 hours.
	unusedMediaLifetime = 24 * 60 * 60 * 1000
	// maxPendingMedia bounds a user's created IDs still waiting for content.
	maxPendingMedia = 10
	// Downloads of created IDs wait for the content this long by default
	// (the spec's timeout_ms default) and at most maxMediaWait.
	defaultMediaWait = 20000
	maxMediaWait     = 60000
	// maxThumbnailJobs bounds thumbnails made at once: each decodes a whole
	// image (up to thumbnail.MaxPixels) in memory.
	maxThumbnailJobs = 2
)

// mediaState is the content repository's share of a Server.
type mediaState struct {
	// uploaded wakes downloads waiting for a created ID's content.
	uploaded core.Notifier
	// jobs holds a token per thumbnail being made.
	jobs chan struct{}
}

func (s *Server) registerMediaRoutes() {
	s.repo.jobs = make(chan struct{}, maxThumbnailJobs)
	routes := []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"POST", "/_matrix/media/v3/upload", s.authed(s.postMediaUpload)},
		{"POST", "/_matrix/media/v1/create", s.authed(s.postMediaCreate)},
		{"PUT", "/_matrix/media/v3/upload/{serverName}/{mediaId}", s.authed(s.putMediaUpload)},
		{"GET", "/_matrix/client/v1/media/config", s.authed(s.getMediaConfig)},
		{"GET", "/_matrix/client/v1/media/download/{serverName}/{mediaId}", s.authed(s.getMediaDownload)},
		{"GET", "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}", s.authed(s.getMediaDownload)},
		{"GET", "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}", s.authed(s.getMediaThumbnail)},
		{"GET", "/_matrix/client/v1/media/preview_url", s.authed(s.getMediaPreviewURL)},
		// Deprecated in 1.11.
		{"GET", "/_matrix/media/v3/config", s.authed(s.getMediaConfig)},
		{"GET", "/_matrix/media/v3/preview_url", s.authed(s.getMediaPreviewURL)},
		{"GET", "/_matrix/media/v3/download/{serverName}/{mediaId}", public(s.getLegacyMediaDownload)},
		{"GET", "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}", public(s.getLegacyMediaDownload)},
		{"GET", "/_matrix/media/v3/thumbnail/{serverName}/{mediaId}", public(s.getLegacyMediaThumbnail)},
	}
	for _, rt := range routes {
		s.mux.HandleFunc(rt.method+" "+rt.path, rt.h)
		s.mux.HandleFunc(rt.path, mediaWrongMethod(rt.method))
	}
}

// mediaWrongMethod answers a known media path asked with another method:
// M_UNRECOGNIZED with 405, as the spec pairs them.
func mediaWrongMethod(method string) http.HandlerFunc {
	allow := method
	if method == http.MethodGet {
		allow = "GET, HEAD"
	}
	return public(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return core.ErrUnrecognized.WithStatus(http.StatusMethodNotAllowed).
			WithMessage("Method %s not allowed here", r.Method)
	})
}

func (s *Server) maxUploadBytes() int64 {
	if s.opts.MaxUploadBytes > 0 {
		return s.opts.MaxUploadBytes
	}
	return DefaultMaxUploadBytes
}

func (s *Server) mxcURI(mediaID string) string {
	return "mxc://" + s.opts.ServerName + "/" + mediaID
}

// newMediaID makes a media ID: 26 random characters of A-Z and 2-7 (130
// bits), inside the spec's A-Za-z0-9_- alphabet.
func newMediaID() string { return rand.Text() }

// validMediaID applies the spec's rule for the media-id segment: "MUST
// consist of only alphanumeric (A-Za-z0-9), _ and - characters".
func validMediaID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// localMediaID returns the request's media ID if its serverName is this
// server. A malformed ID or server name, like remote media (no federation
// yet), is M_NOT_FOUND: no such content can be had here.
func (s *Server) localMediaID(r *http.Request) (string, error) {
	server, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	if !validMediaID(mediaID) {
		return "", core.ErrNotFound.WithMessage("Invalid media ID")
	}
	if _, err := id.ParseServerName(server); err != nil {
		return "", core.ErrNotFound.WithMessage("Invalid server name")
	}
	if server != s.opts.ServerName {
		return "", core.ErrNotFound.WithMessage("Remote media is not available: this server does not federate")
	}
	return mediaID, nil
}

// uploadContentType is the content type an upload is recorded with: the
// Content-Type header, "application/octet-stream" when absent.
func uploadContentType(r *http.Request) string {
	if ct := strings.TrimSpace(r.Header.Get("Content-Type")); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// uploadName returns the filename query parameter, refused if it is not
// UTF-8 (the Content-Disposition of downloads must repeat it exactly).
func uploadName(r *http.Request) (string, error) {
	name := r.URL.Query().Get("filename")
	if !utf8.ValidString(name) || len(name) > 1024 {
		return "", core.ErrInvalidParam.WithMessage("filename must be UTF-8, at most 1024 bytes")
	}
	return name, nil
}

// bodyReader remembers the error of the request body, to tell a client
// that stopped sending from a failing store.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// receiveMedia stores the request body as the content of m.MediaID.
func (s *Server) receiveMedia(r *http.Request, m core.Media, reserved bool) (core.Media, error) {
	limit := s.maxUploadBytes()
	if r.ContentLength > limit {
		return core.Media{}, core.ErrTooLarge.WithMessage("Cannot upload files larger than %d bytes", limit)
	}
	name, err := uploadName(r)
	if err != nil {
		return core.Media{}, err
	}
	m.ContentType, m.UploadName = uploadContentType(r), name
	m.LegacyDownload = s.opts.LegacyMediaDownload
	now := s.opts.Now().UnixMilli()
	if m.CreatedTS == 0 {
		m.CreatedTS = now
	}
	body := &bodyReader{r: r.Body}
	stored, err := s.opts.Media.UploadMedia(r.Context(), core.MediaUpload{
		Media: m, Reserved: reserved, MaxSize: limit, NowTS: now,
	}, body)
	if err != nil {
		if body.err != nil && errors.Is(err, body.err) {
			return core.Media{}, core.ErrUnknown.WithStatus(http.StatusBadRequest).
				WithMessage("Reading the upload failed")
		}
		return core.Media{}, err
	}
	s.repo.uploaded.Notify()
	return stored, nil
}

// postMediaUpload is POST /_matrix/media/v3/upload.
func (s *Server) postMediaUpload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	m, err := s.receiveMedia(r, core.Media{MediaID: newMediaID(), UserID: sess.UserID}, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"content_uri": s.mxcURI(m.MediaID)})
	return nil
}

// postMediaCreate is POST /_matrix/media/v1/create: an mxc:// URI whose
// content comes later, by PUT.
func (s *Server) postMediaCreate(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	ctx := r.Context()
	now := s.opts.Now().UnixMilli()
	n, err := s.opts.Media.PendingMedia(ctx, sess.UserID, now)
	if err != nil {
		return err
	}
	// "the server should limit the number of concurrent pending media
	// uploads a given user can have ... respond with an HTTP 429 error with
	// an errcode of M_LIMIT_EXCEEDED."
	if n >= maxPendingMedia {
		return core.ErrLimitExceeded.WithMessage("Too many pending media uploads")
	}
	m := core.Media{MediaID: newMediaID(), UserID: sess.UserID, CreatedTS: now, UnusedExpiresTS: now + unusedMediaLifetime}
	if err := s.opts.Media.CreateMedia(ctx, m); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"content_uri":       s.mxcURI(m.MediaID),
		"unused_expires_at": m.UnusedExpiresTS,
	})
	return nil
}

// putMediaUpload is PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func (s *Server) putMediaUpload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	mediaID, err := s.localMediaID(r)
	if err != nil {
		return err
	}
	if _, err := s.receiveMedia(r, core.Media{MediaID: mediaID, UserID: sess.UserID}, true); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// getMediaConfig is GET /_matrix/client/v1/media/config (and the
// deprecated /_matrix/media/v3/config).
func (s *Server) getMediaConfig(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	writeJSON(w, http.StatusOK, map[string]int64{"m.upload.size": s.maxUploadBytes()})
	return nil
}

// URLPreviewer makes URL previews (urlpreview.Previewer).
type URLPreviewer interface {
	// Preview returns the OpenGraph data of rawURL (og:image as an mxc://
	// URI of an image stored for userID). It returns M_INVALID_PARAM for a
	// URL it will not fetch, and a Matrix error when the page cannot be
	// previewed.
	Preview(ctx context.Context, userID, rawURL string) (map[string]any, error)
}

// getMediaPreviewURL is GET /_matrix/client/v1/media/preview_url (and the
// deprecated /_matrix/media/v3/preview_url). A preview makes the server
// fetch a URL a client names, so it is off unless configured
// (media.url_preview), and then fetched through urlpreview's SSRF guard.
func (s *Server) getMediaPreviewURL(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if s.opts.URLPreviews == nil {
		return core.ErrUnrecognized.WithMessage("URL previews are disabled on this server")
	}
	q := r.URL.Query()
	if !q.Has("url") {
		return core.ErrMissingParam.WithMessage("url is required")
	}
	if ts := q.Get("ts"); ts != "" {
		if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
			return core.ErrInvalidParam.WithMessage("ts must be an integer")
		}
	}
	og, err := s.opts.URLPreviews.Preview(r.Context(), sess.UserID, q.Get("url"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, og)
	return nil
}

// servedContentType is the Content-Type media is served with: the
// uploaded one, normalised, or application/octet-stream when it does not
// parse (the spec allows that for a type that is "obviously wrong").
func servedContentType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	if out := mime.FormatMediaType(mt, params); out != "" {
		return out
	}
	return "application/octet-stream"
}

// inlineTypes are the types the spec lists under "Serving inline content":
// the only ones served with Content-Disposition: inline.
var inlineTypes = map[string]bool{
	"text/css": true, "text/plain": true, "text/csv": true,
	"application/json": true, "application/ld+json": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true,
	"image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true,
	"audio/ogg": true, "audio/wave": true, "audio/wav": true, "audio/x-wav": true,
	"audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// contentDisposition is inline for the safe types and attachment for the
// rest, with the file name when there is one.
func contentDisposition(contentType, fileName string) string {
	disp := "attachment"
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && inlineTypes[mt] {
		disp = "inline"
	}
	if fileName == "" {
		return disp
	}
	if v := mime.FormatMediaType(disp, map[string]string{"filename": fileName}); v != "" {
		return v
	}
	return disp
}

// setMediaHeaders sets the headers the spec recommends on served content.
func setMediaHeaders(h http.Header) {
	h.Set("Content-Security-Policy",
		"sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=86400")
}
