package web

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// Rate-limited actions. Handlers call s.rateLimit(w, r, action) before
// doing the work.
const (
	actionLogin      = "login"
	actionRegister   = "register"
	actionMessage    = "message"
	actionLoginToken = "login_token"
)

// bucketRate is a token bucket's refill rate and size.
type bucketRate struct {
	perSecond float64
	burst     float64
}

// actionRates are the buckets per action. Login and registration follow
// Synapse's defaults (about one every six seconds after a short burst);
// message sends are generous, as the one user of a home server sends them;
// login tokens for other clients follow the spec's hint of about one a
// minute.
var actionRates = map[string]bucketRate{
	actionLogin:      {perSecond: 0.17, burst: 5},
	actionRegister:   {perSecond: 0.17, burst: 3},
	actionMessage:    {perSecond: 10, burst: 50},
	actionLoginToken: {perSecond: 1.0 / 60, burst: 3},
}

// maxBuckets bounds the bucket table; past it, full buckets are dropped.
const maxBuckets = 10000

// rateLimiter holds one token bucket per (who, action).
type rateLimiter struct {
	mu      sync.Mutex
	buckets map[bucketKey]*bucket
}

type bucketKey struct {
	who, action string
}

type bucket struct {
	tokens float64
	last   time.Time
}

// rateLimit takes one token from the bucket of (the requesting user, or the
// client's IP address without a valid access token, action). When the
// bucket is empty it sets Retry-After on w (if w is not nil) and returns
// M_LIMIT_EXCEEDED with retry_after_ms. It does nothing when rate limits
// are off or the action is unknown.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, action string) error {
	if !s.opts.RateLimits {
		return nil
	}
	rate, ok := actionRates[action]
	if !ok {
		return nil
	}
	who := "ip:" + clientIP(r)
	if tok := accessToken(r); tok != "" {
		if sess, err := s.opts.Sessions.SessionByAccessToken(r.Context(), tok); err == nil {
			who = "user:" + sess.UserID
		}
	}
	wait := s.acct.limits.take(bucketKey{who: who, action: action}, rate, s.opts.Now())
	if wait <= 0 {
		return nil
	}
	ms := wait.Milliseconds() + 1
	if w != nil {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
	}
	return core.ErrLimitExceeded.WithMessage("Too many requests; retry in %d ms", ms).WithExtra("retry_after_ms", ms)
}

// take removes a token from the bucket, returning 0, or how long until one
// is available if the bucket is empty.
func (l *rateLimiter) take(k bucketKey, rate bucketRate, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[bucketKey]*bucket)
	}
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.dropFull(now)
			if len(l.buckets) >= maxBuckets {
				// Too many active clients to track: start afresh.
				clear(l.buckets)
			}
		}
		b = &bucket{tokens: rate.burst, last: now}
		l.buckets[k] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(rate.burst, b.tokens+elapsed*rate.perSecond)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate.perSecond * float64(time.Second))
}

// dropFull forgets buckets that have refilled: forgetting them changes
// nothing.
func (l *rateLimiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		rate := actionRates[k.action]
		if b.tokens+now.Sub(b.last).Seconds()*rate.perSecond >= rate.burst {
			delete(l.buckets, k)
		}
	}
}

// clientIP is the address the request came from (the TCP peer; hearth does
// not trust forwarding headers).
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
