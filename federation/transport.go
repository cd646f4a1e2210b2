package federation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TransportOptions configure the HTTPS transport of outbound federation.
type TransportOptions struct {
	// CAFile holds extra PEM roots trusted besides the system's.
	CAFile string
	// InsecureSkipVerify skips certificate checks (test harnesses only).
	InsecureSkipVerify bool
	// AllowPrivateAddresses lets requests reach loopback, private,
	// link-local, CGNAT and multicast addresses.
	AllowPrivateAddresses bool
	// Resolve maps server names to host:port, used before discovery.
	Resolve map[string]string
	// Lookup replaces the network's SRV and well-known lookups (tests).
	Lookup Lookup
}

// HTTPSTransport is the http.RoundTripper of direct federation: it takes
// requests addressed to matrix-federation://<server name>/..., finds the
// server by discovery, and sends them over HTTPS with the Host header and
// certificate name discovery gives. The relay's node client replaces it by
// a RoundTripper that sends frames, with the same request shape.
type HTTPSTransport struct {
	discovery *Discovery
	dialer    *net.Dialer
	tlsConfig *tls.Config

	mu         sync.Mutex
	transports map[string]*http.Transport // by certificate name
}

// FederationScheme is the URL scheme of requests given to the federation
// RoundTripper; the URL's host is the destination's server name.
const FederationScheme = "matrix-federation"

// NewHTTPSTransport returns the direct transport.
func NewHTTPSTransport(o TransportOptions) (*HTTPSTransport, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("federation.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("federation.ca_file: %s holds no PEM certificate", o.CAFile)
		}
	}
	t := &HTTPSTransport{
		dialer:     guardedDialer(o.AllowPrivateAddresses),
		tlsConfig:  &tls.Config{RootCAs: roots, InsecureSkipVerify: o.InsecureSkipVerify, MinVersion: tls.VersionTLS12},
		transports: map[string]*http.Transport{},
	}
	lookup := o.Lookup
	if lookup == nil {
		lookup = &netLookup{client: &http.Client{
			Transport: t.transport(""), Timeout: 30 * time.Second,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 10 {
					return errors.New("too many redirects")
				}
				return nil
			},
		}}
	}
	t.discovery = NewDiscovery(lookup, o.Resolve, nil)
	return t, nil
}

// transport returns the pooled transport verifying certificates for
// tlsName ("" : the name in each request's URL).
func (t *HTTPSTransport) transport(tlsName string) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.transports[tlsName]; ok {
		return tr
	}
	cfg := t.tlsConfig.Clone()
	cfg.ServerName = tlsName
	tr := &http.Transport{
		DialContext:           dialContext(t.dialer),
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	t.transports[tlsName] = tr
	return tr
}

// RoundTrip sends req (URL matrix-federation://<server name>/path) to the
// server's targets in turn until one connects.
func (t *HTTPSTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != FederationScheme {
		return nil, fmt.Errorf("federation: URL scheme %q, want %s", req.URL.Scheme, FederationScheme)
	}
	targets, err := t.discovery.Resolve(req.Context(), req.URL.Host)
	if err != nil {
		return nil, err
	}
	var lastErr error = errNoTargets
	for i, target := range targets {
		r := req.Clone(req.Context())
		r.URL.Scheme = "https"
		r.URL.Host = target.Addr
		r.Host = target.Host
		if i > 0 {
			if req.Body != nil && req.GetBody == nil {
				break // the body cannot be sent twice
			}
			if req.GetBody != nil {
				if r.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
		}
		resp, err := t.transport(target.TLSName).RoundTrip(r)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" || req.Context().Err() != nil {
			break // only a failed connection moves on to the next target
		}
	}
	return nil, lastErr
}

// CloseIdleConnections closes the idle connections of every pool.
func (t *HTTPSTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.transports {
		tr.CloseIdleConnections()
	}
}

// netLookup is Lookup over the network: the system resolver for SRV, and
// HTTPS for /.well-known/matrix/server.
type netLookup struct {
	client *http.Client
}

func (l *netLookup) LookupSRV(ctx context.Context, service, proto, name string) ([]*net.SRV, error) {
	_, records, err := net.DefaultResolver.LookupSRV(ctx, service, proto, name)
	return records, err
}

// maxWellKnownSize bounds a /.well-known/matrix/server response.
const maxWellKnownSize = 64 * 1024

func (l *netLookup) WellKnown(ctx context.Context, hostname string) (string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+hostname+"/.well-known/matrix/server", nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("well-known: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWellKnownSize+1))
	if err != nil {
		return "", 0, err
	}
	if len(body) > maxWellKnownSize {
		return "", 0, errors.New("well-known: response too large")
	}
	var wk struct {
		Server string `json:"m.server"`
	}
	if err := json.Unmarshal(body, &wk); err != nil {
		return "", 0, fmt.Errorf("well-known: %w", err)
	}
	if wk.Server == "" {
		return "", 0, errors.New("well-known: no m.server")
	}
	return wk.Server, cacheTTL(resp.Header, time.Now()), nil
}

// cacheTTL reads how long a response may be cached from Cache-Control
// (max-age; no-store and no-cache count as zero-length) or Expires; 0 when
// the headers say nothing.
func cacheTTL(h http.Header, now time.Time) time.Duration {
	if cc := h.Get("Cache-Control"); cc != "" {
		for _, d := range strings.Split(cc, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-store" || d == "no-cache" {
				return time.Nanosecond // the shortest: the caller's minimum applies
			}
			if v, ok := strings.CutPrefix(d, "max-age="); ok {
				if n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64); err == nil && n >= 0 {
					if n == 0 {
						return time.Nanosecond
					}
					return time.Duration(min(n, 1<<31)) * time.Second
				}
			}
		}
	}
	if e := h.Get("Expires"); e != "" {
		if t, err := http.ParseTime(e); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return time.Nanosecond
		}
	}
	return 0
}
