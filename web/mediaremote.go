package web

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// RemoteMedia fetches media of other servers over federation
// (/_matrix/federation/v1/media/download and /thumbnail).
type RemoteMedia interface {
	// FetchMedia returns the content of mxc://server/mediaID, or of its
	// thumbnail when thumbnail is non-nil (width, height, method,
	// animated), at most maxSize bytes of it: its content type, its
	// Content-Disposition (may be empty) and the body, which the caller
	// closes. It returns M_NOT_FOUND when the server has no such media.
	FetchMedia(ctx context.Context, server, mediaID string, thumbnail url.Values, maxSize int64) (contentType, disposition string, body io.ReadCloser, err error)
}

// ServeLocalMedia serves the local media mediaID as the authenticated
// client endpoints do: its content, or its thumbnail when thumbnail is
// true (r's query giving width, height, method and animated). The
// federation media endpoints use it; it writes nothing when it returns an
// error.
func (s *Server) ServeLocalMedia(w http.ResponseWriter, r *http.Request, mediaID string, thumbnail bool) error {
	r2 := r.Clone(r.Context())
	r2.SetPathValue("serverName", s.opts.ServerName)
	r2.SetPathValue("mediaId", mediaID)
	r2.SetPathValue("fileName", "")
	if thumbnail {
		return s.serveMediaThumbnail(w, r2, false)
	}
	return s.serveMediaDownload(w, r2, false)
}

// serveRemoteMedia answers a download or thumbnail of another server's
// media by fetching it over federation and passing it on, unless it is
// over the upload limit. It reports handled false for local media.
func (s *Server) serveRemoteMedia(w http.ResponseWriter, r *http.Request, thumbnail bool) (bool, error) {
	server, mediaID := r.PathValue("serverName"), r.PathValue("mediaId")
	if server == s.opts.ServerName {
		return false, nil
	}
	if _, err := id.ParseServerName(server); err != nil || s.opts.RemoteMedia == nil || !validMediaID(mediaID) {
		return true, core.ErrNotFound.WithMessage("Unknown media")
	}
	var q url.Values
	if thumbnail {
		if _, err := parseThumbnailRequest(r); err != nil {
			return true, err
		}
		in := r.URL.Query()
		q = url.Values{}
		for _, k := range []string{"width", "height", "method", "animated"} {
			if v := in.Get(k); v != "" {
				q.Set(k, v)
			}
		}
	}
	ct, disp, body, err := s.opts.RemoteMedia.FetchMedia(r.Context(), server, mediaID, q, s.maxUploadBytes())
	if err != nil {
		return true, err
	}
	defer body.Close()
	ct = servedContentType(ct)
	h := w.Header()
	setMediaHeaders(h)
	h.Set("Content-Type", ct)
	name := r.PathValue("fileName")
	if name == "" && thumbnail {
		name = "thumbnail"
	}
	if name != "" || disp == "" {
		h.Set("Content-Disposition", contentDisposition(ct, name))
	} else {
		h.Set("Content-Disposition", disp)
	}
	w.WriteHeader(http.StatusOK)
	io.Copy(w, body)
	return true, nil
}
