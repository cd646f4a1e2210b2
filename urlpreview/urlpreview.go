// Package urlpreview makes the URL previews of GET
// /_matrix/client/v1/media/preview_url: it fetches the page a client
// names, through a dialer that refuses private addresses (the SSRF guard
// of outbound federation), with size and time limits; reads the page's
// OpenGraph properties and title with an HTML parser; stores the page's
// image in the content repository (returned as mxc://); and keeps the
// answers in memory for a while.
//
// It is an outbound service: the root builds it when media.url_preview is
// on, and the client-server API calls it. Importing the package has no
// side effects.
package urlpreview

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// Defaults of Config.
const (
	DefaultMaxPageBytes  = 1 << 20
	DefaultMaxImageBytes = 10 << 20
	DefaultTimeout       = 10 * time.Second
	DefaultCacheTTL      = time.Hour
	// maxCacheEntries bounds the cache; expired entries go first, then
	// the oldest.
	maxCacheEntries = 1000
	maxRedirects    = 5
	errorTTL        = time.Minute
	userAgent       = "hearth URL preview (Matrix homeserver)"
)

// Config describes a Previewer.
type Config struct {
	// ServerName is the local server's name, for the mxc:// URIs of stored
	// images.
	ServerName string
	// Media stores the images of previewed pages.
	Media core.MediaStore
	// AllowPrivate lets previews reach loopback, private, link-local,
	// CGNAT and multicast addresses (tests, closed networks).
	AllowPrivate bool
	// MaxPageBytes bounds a fetched page, MaxImageBytes an image (0 uses
	// the defaults); a longer body is cut there.
	MaxPageBytes, MaxImageBytes int64
	// Timeout bounds one fetch, connection to last byte (0 uses
	// DefaultTimeout); CacheTTL is how long an answer is kept (0 uses
	// DefaultCacheTTL).
	Timeout  time.Duration
	CacheTTL time.Duration
	// Now is the clock; nil uses time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Previewer makes URL previews.
type Previewer struct {
	cfg    Config
	client *http.Client

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	og      map[string]any
	err     error
	expires time.Time
	added   time.Time
}

// New returns a Previewer for cfg.
func New(cfg Config) (*Previewer, error) {
	if cfg.ServerName == "" || cfg.Media == nil {
		return nil, errors.New("urlpreview: a previewer needs the server name and the media store")
	}
	if cfg.MaxPageBytes <= 0 {
		cfg.MaxPageBytes = DefaultMaxPageBytes
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = DefaultMaxImageBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := guardedDialer(cfg.AllowPrivate, cfg.Timeout)
	tr := &http.Transport{
		// No proxy from the environment: it would bypass the guard.
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("urlpreview: too many redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("urlpreview: redirect to a %s URL", req.URL.Scheme)
			}
			return nil
		},
	}
	return &Previewer{cfg: cfg, client: client, cache: map[string]cached{}}, nil
}

// errUnreachable is the answer when the page cannot be previewed.
var errUnreachable = core.ErrUnknown.WithStatus(502).WithMessage("the URL could not be previewed")

// Preview returns the OpenGraph data of rawURL for userID (who owns the
// stored image): og:* strings, og:image as an mxc:// URI with
// og:image:type and matrix:image:size. It returns M_INVALID_PARAM for a
// URL that is not absolute http(s), and a 502 M_UNKNOWN when the page
// cannot be fetched (an address the guard refuses included; the reason is
// logged, not told). Answers, failures included, are cached by URL.
func (p *Previewer) Preview(ctx context.Context, userID, rawURL string) (map[string]any, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, core.ErrInvalidParam.WithMessage("url must be an absolute http or https URL")
	}
	u.Fragment = ""
	key := u.String()
	now := p.cfg.Now()
	p.mu.Lock()
	if c, ok := p.cache[key]; ok && now.Before(c.expires) {
		p.mu.Unlock()
		return c.og, c.err
	}
	p.mu.Unlock()
	og, err := p.fetch(ctx, userID, u)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.cfg.Logger.InfoContext(ctx, "URL preview failed", "url", key, "err", err)
		err = errUnreachable
	}
	ttl := p.cfg.CacheTTL
	if err != nil {
		ttl = min(ttl, errorTTL) // a page that failed may come back soon
	}
	p.put(key, cached{og: og, err: err, expires: now.Add(ttl), added: now})
	return og, err
}

// put caches an answer, making room first.
func (p *Previewer) put(key string, c cached) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cache) >= maxCacheEntries {
		var oldest string
		for k, v := range p.cache {
			if !c.added.Before(v.expires) {
				delete(p.cache, k)
			} else if oldest == "" || v.added.Before(p.cache[oldest].added) {
				oldest = k
			}
		}
		if len(p.cache) >= maxCacheEntries {
			delete(p.cache, oldest)
		}
	}
	p.cache[key] = c
}

// fetch gets u and builds its preview.
func (p *Previewer) fetch(ctx context.Context, userID string, u *url.URL) (map[string]any, error) {
	resp, ctype, err := p.get(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if strings.HasPrefix(ctype, "image/") {
		// The URL is an image: it is its own preview.
		if err := p.storeImage(ctx, userID, resp, ctype, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	if ctype != "text/html" && ctype != "application/xhtml+xml" {
		return nil, fmt.Errorf("content type %q is not HTML", ctype)
	}
	og := parseHTML(io.LimitReader(resp.Body, p.cfg.MaxPageBytes), resp.Request.URL)
	for k, v := range og {
		out[k] = v
	}
	if img := og["og:image"]; img != "" {
		delete(out, "og:image")
		iu, _ := url.Parse(img)
		if err := p.fetchImage(ctx, userID, iu, out); err != nil {
			p.cfg.Logger.InfoContext(ctx, "URL preview image failed", "url", img, "err", err)
		}
	}
	return out, nil
}

// get sends GET u and checks the answer is 200, returning its media type.
func (p *Previewer) get(ctx context.Context, u *url.URL) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/html, application/xhtml+xml, image/*;q=0.8")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp, strings.ToLower(ctype), nil
}

// fetchImage gets an og:image and stores it.
func (p *Previewer) fetchImage(ctx context.Context, userID string, u *url.URL, out map[string]any) error {
	resp, ctype, err := p.get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(ctype, "image/") {
		return fmt.Errorf("og:image has content type %q", ctype)
	}
	return p.storeImage(ctx, userID, resp, ctype, out)
}

// storeImage stores an image response as media of userID and sets
// og:image, og:image:type and matrix:image:size.
func (p *Previewer) storeImage(ctx context.Context, userID string, resp *http.Response, ctype string, out map[string]any) error {
	m, err := p.cfg.Media.UploadMedia(ctx, core.MediaUpload{
		Media: core.Media{MediaID: rand.Text(), UserID: userID, ContentType: ctype,
			CreatedTS: p.cfg.Now().UnixMilli()},
		MaxSize: p.cfg.MaxImageBytes,
		NowTS:   p.cfg.Now().UnixMilli(),
	}, resp.Body)
	if err != nil {
		return err
	}
	out["og:image"] = "mxc://" + p.cfg.ServerName + "/" + m.MediaID
	out["og:image:type"] = ctype
	out["matrix:image:size"] = m.Size
	return nil
}
