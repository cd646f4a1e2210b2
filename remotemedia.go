package hearth

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/url"

	"hearth.dev/hearth/storage"
	"hearth.dev/hearth/web"
)

// cachedRemoteMedia keeps what fetch (the federation client) brings of
// other servers' media in the database, up to maxBytes in all, so a second
// download is served from there.
type cachedRemoteMedia struct {
	fetch    web.RemoteMedia
	store    *storage.RemoteMediaCacheStore
	maxBytes int64
	log      *slog.Logger
}

// FetchMedia implements web.RemoteMedia.
func (c *cachedRemoteMedia) FetchMedia(ctx context.Context, server, mediaID string, thumbnail url.Values, maxSize int64) (string, string, io.ReadCloser, error) {
	variant := ""
	if thumbnail != nil {
		variant = "thumbnail?" + thumbnail.Encode()
	}
	if c.maxBytes > 0 {
		m, ok, err := c.store.Get(ctx, server, mediaID, variant)
		if err != nil {
			c.log.Warn("remote media cache: read", "server", server, "media_id", mediaID, "err", err)
		}
		if ok && int64(len(m.Content)) <= maxSize {
			return m.ContentType, m.Disposition, io.NopCloser(bytes.NewReader(m.Content)), nil
		}
	}
	ct, disp, body, err := c.fetch.FetchMedia(ctx, server, mediaID, thumbnail, maxSize)
	if err != nil || c.maxBytes <= 0 {
		return ct, disp, body, err
	}
	// Read what fits in the cache; anything larger is passed on as it
	// comes, not kept.
	head, err := io.ReadAll(io.LimitReader(body, c.maxBytes+1))
	if err != nil {
		body.Close()
		return "", "", nil, err
	}
	if int64(len(head)) > c.maxBytes {
		return ct, disp, struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), body), body}, nil
	}
	body.Close()
	m := storage.RemoteMedia{Server: server, MediaID: mediaID, Variant: variant, ContentType: ct, Disposition: disp, Content: head}
	if err := c.store.Put(ctx, m, c.maxBytes); err != nil {
		c.log.Warn("remote media cache: store", "server", server, "media_id", mediaID, "err", err)
	}
	return ct, disp, io.NopCloser(bytes.NewReader(head)), nil
}
