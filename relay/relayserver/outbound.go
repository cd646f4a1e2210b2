package relayserver

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
)

// FederationScheme is the URL scheme of the requests given to
// Outbound.Transport: matrix-federation://<server name>/path, the shape of
// hearth's federation RoundTripper (discovery, TLS and the SSRF guard are
// its business).
const FederationScheme = "matrix-federation"

// Outbound performs the federation requests of nodes that cannot reach the
// network themselves.
type Outbound struct {
	// Transport sends requests addressed to matrix-federation://NAME/...
	Transport http.RoundTripper
	// Rate is the requests per second one node may send (50 when 0), with
	// bursts of Burst (200 when 0): joining a large room takes a burst of
	// state, event and key requests.
	Rate  float64
	Burst int
}

var (
	errOutboundOff = core.ErrForbidden.WithMessage("This relay does not send requests for its nodes")
	errOutboundBad = core.ErrInvalidParam.WithMessage("The request needs a destination server name")
	errRemote      = core.ErrUnavailable.WithMessage("The destination could not be reached")
)

// outboundHandler serves one node's outbound requests: Host is the
// destination; the node has signed the request already.
func (s *Server) outboundHandler(sess *session) http.Handler {
	o := s.cfg.Outbound
	var lim *bucket
	if o != nil {
		lim = newBucket(o.Rate, o.Burst)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o == nil || o.Transport == nil {
			matrixhttp.WriteError(w, r, errOutboundOff)
			return
		}
		dest := strings.ToLower(r.Host)
		if dest == "" || strings.ContainsAny(dest, "/@?#") {
			matrixhttp.WriteError(w, r, errOutboundBad)
			return
		}
		if !lim.take(time.Now()) {
			matrixhttp.WriteError(w, r, core.ErrLimitExceeded.WithExtra("retry_after_ms", 1000))
			return
		}
		if _, ok := s.label(dest); ok {
			// A node of this relay: no round trip through the network.
			r.Host = dest
			r.RemoteAddr = "relay"
			s.ServeHTTP(w, r)
			return
		}
		u := &url.URL{Scheme: FederationScheme, Host: dest, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
		if err != nil {
			matrixhttp.WriteError(w, r, errOutboundBad)
			return
		}
		out.Header = r.Header.Clone()
		out.Header.Del("X-Forwarded-For")
		resp, err := o.Transport.RoundTrip(out)
		if err != nil {
			s.log.Info("relay: outbound request failed", "node", s.serverName(sess.label), "destination", dest, "err", err)
			matrixhttp.WriteError(w, r, errRemote)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
}

// bucket is a token bucket: rate per second, burst at most.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		rate = 50
	}
	if burst <= 0 {
		burst = 200
	}
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
