package web

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// Rate-limited actions. Handlers call s.rateLimit(w, r, action) before
// doing the work.
const (
	actionLogin    = "login"
	actionRegister = "register"
	// actionRegisterQuery covers the cheap questions a client asks while
	// a user fills in the registration form (is this name free, is this
	// token valid, a shared-secret nonce), so that asking them does not
	// use up the registrations themselves.
	actionRegisterQuery = "register_query"
	actionMessage       = "message"
	actionLoginToken    = "login_token"
	// actionLoginFailed counts wrong passwords per account, whatever
	// address they come from (checkPassword).
	actionLoginFailed = "login_failed"
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
	actionLogin:         {perSecond: 0.17, burst: 5},
	actionRegister:      {perSecond: 0.17, burst: 3},
	actionRegisterQuery: {perSecond: 1, burst: 10},
	actionMessage:       {perSecond: 10, burst: 50},
	actionLoginToken:    {perSecond: 1.0 / 60, burst: 3},
	// As Synapse's rc_login.failed_attempts.
	actionLoginFailed: {perSecond: 0.17, burst: 3},
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
	return s.limitAction(w, r, action, true)
}

// checkRateLimit is rateLimit without taking a token: it refuses when the
// bucket is empty, and the caller takes the token with rateLimit once the
// action is done (registration counts accounts created, not the rounds
// of user-interactive authentication before them, as in Synapse).
func (s *Server) checkRateLimit(w http.ResponseWriter, r *http.Request, action string) error {
	return s.limitAction(w, r, action, false)
}

func (s *Server) limitAction(w http.ResponseWriter, r *http.Request, action string, consume bool) error {
	if !s.opts.RateLimits {
		return nil
	}
	rate, ok := actionRates[action]
	if !ok {
		return nil
	}
	who := "ip:" + s.clientIP(r)
	if as := s.appService(r); as != nil {
		// Application services are not limited unless their
		// registration says rate_limited.
		if !as.IsRateLimited() {
			return nil
		}
		who = "appservice:" + as.ID
	} else if tok := accessToken(r); tok != "" {
		if sess, err := s.opts.Sessions.SessionByAccessToken(r.Context(), tok); err == nil {
			who = "user:" + sess.UserID
		}
	}
	wait := s.acct.limits.take(bucketKey{who: who, action: action}, rate, s.opts.Now(), consume)
	return limitExceeded(w, wait)
}

// limitExceeded is nil when wait is not positive, else M_LIMIT_EXCEEDED
// saying how long to wait (also as Retry-After on w, if w is not nil).
func limitExceeded(w http.ResponseWriter, wait time.Duration) error {
	if wait <= 0 {
		return nil
	}
	ms := wait.Milliseconds() + 1
	if w != nil {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
	}
	return core.ErrLimitExceeded.WithMessage("Too many requests; retry in %d ms", ms).WithExtra("retry_after_ms", ms)
}

// checkPassword checks userID's password for a login or an authentication
// stage, limiting wrong passwords per account as well as per address (the
// callers' rateLimit): guesses spread over many addresses still get about
// one try every six seconds at one account. While the account's bucket is
// empty every attempt is refused unchecked (as Synapse does), so a right
// password cannot be told from a wrong one.
func (s *Server) checkPassword(w http.ResponseWriter, r *http.Request, userID, password string) error {
	if !s.opts.RateLimits {
		return s.opts.Accounts.CheckPassword(r.Context(), userID, password)
	}
	k := bucketKey{who: "account:" + userID, action: actionLoginFailed}
	rate := actionRates[actionLoginFailed]
	if err := limitExceeded(w, s.acct.limits.take(k, rate, s.opts.Now(), false)); err != nil {
		return err
	}
	err := s.opts.Accounts.CheckPassword(r.Context(), userID, password)
	if errors.Is(err, core.ErrForbidden) {
		s.acct.limits.take(k, rate, s.opts.Now(), true)
	}
	return err
}

// take removes a token from the bucket (only looks, without consume),
// returning 0, or how long until one is available if the bucket is empty.
func (l *rateLimiter) take(k bucketKey, rate bucketRate, now time.Time, consume bool) time.Duration {
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
		if consume {
			b.tokens--
		}
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

// clientIP is the address the request came from: the TCP peer, or when
// the peer is one of Options.TrustedProxies, the address that peer was
// reached from according to X-Forwarded-For: the nearest address in the
// header that is not itself a trusted proxy (addresses further left could
// have been written by the client).
func (s *Server) clientIP(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		peer = host
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !s.trustedProxy(addr) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := addr
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // not an address: nothing further left is believed
		}
		client = hop.Unmap()
		if !s.trustedProxy(client) {
			break
		}
	}
	return client.String()
}

// trustedProxy reports whether addr is in Options.TrustedProxies.
func (s *Server) trustedProxy(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
