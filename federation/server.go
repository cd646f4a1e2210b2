package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/matrixhttp"
)

// Request limits of the server-server surface.
const (
	// MaxRequestBody bounds an inbound request body: a transaction of 50
	// PDUs of at most 65,536 bytes each plus 100 EDUs fits.
	MaxRequestBody = 8 << 20
	// MaxConcurrentPerOrigin bounds the requests one origin has in flight;
	// more get 429 M_LIMIT_EXCEEDED.
	MaxConcurrentPerOrigin = 16
)

// Errors of request authentication.
var (
	errNoAuth          = core.ErrUnauthorized.WithMessage("missing X-Matrix authorization")
	errBadAuth         = core.ErrUnauthorized.WithMessage("malformed X-Matrix authorization")
	errWrongDest       = core.ErrUnauthorized.WithMessage("the request is addressed to another server")
	errBadOrigin       = core.ErrUnauthorized.WithMessage("origin is not a valid server name")
	errUnknownKey      = core.ErrUnauthorized.WithMessage("the origin's key could not be found")
	errBadSignature    = core.ErrUnauthorized.WithMessage("the request signature does not verify")
	errTooManyRequests = core.ErrLimitExceeded.WithMessage("too many concurrent requests from your server").WithExtra("retry_after_ms", 1000)
)

// ServerOptions are the services the federation surface calls.
type ServerOptions struct {
	ServerName string
	Version    string // hearth's version, for /_matrix/federation/v1/version
	// KeyRing verifies request signatures.
	KeyRing core.KeyRing
	// Keys serves /_matrix/key/ (the server's keys and the notary).
	Keys http.Handler
	// Txns makes /send idempotent.
	Txns core.FederationTxnStore
	// PDUs receives the PDUs of transactions; nil refuses transactions
	// that carry PDUs (503), so none is acknowledged and lost.
	PDUs core.PDUReceiver
	// EDUs are the services EDUs go to.
	EDUs EDUServices
	// Messaging serves joins, invites, queries and the other requests of
	// the messaging layer; nil leaves them unanswered (404).
	Messaging *Messaging
	// PDUServe answers questions about rooms' events (/event, /state,
	// /state_ids, /event_auth, /backfill, /get_missing_events,
	// /timestamp_to_event); nil leaves them unanswered (404).
	PDUServe PDUService
	// OriginSeen, when set, is told of every authenticated request's
	// origin: the outbound sender retries a server that backs off at once
	// when it reaches us.
	OriginSeen func(ctx context.Context, origin string)
	Logger     *slog.Logger
}

// Server is the server-server API as an http.Handler: mount it at / of
// the federation listener (or behind a relay's socket). It answers
// /_matrix/federation/* and /_matrix/key/*.
type Server struct {
	opts   ServerOptions
	mux    *http.ServeMux
	log    *slog.Logger
	limits originLimits
	// txnLocks serialises the transactions of each origin, so a retried
	// transaction waits for the first attempt instead of racing it.
	txnLocks keyedMutex
}

// NewServer builds the federation surface.
func NewServer(o ServerOptions) (*Server, error) {
	if o.ServerName == "" || o.KeyRing == nil || o.Txns == nil {
		return nil, errors.New("federation: NewServer needs ServerName, KeyRing and Txns")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, mux: http.NewServeMux(), log: o.Logger}
	s.limits.max = MaxConcurrentPerOrigin
	if o.Keys != nil {
		s.mux.Handle("/_matrix/key/", o.Keys)
	}
	s.mux.HandleFunc("GET /_matrix/federation/v1/version", s.getVersion)
	s.mux.HandleFunc("PUT /_matrix/federation/v1/send/{txnID}", s.authed(s.putSend))
	if o.PDUServe != nil {
		s.registerPDUs()
	}
	if o.Messaging != nil {
		o.Messaging.register(s)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		matrixhttp.WriteError(w, r, core.ErrUnrecognized)
	})
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handle registers an authenticated handler.
func (s *Server) handle(pattern string, h func(w http.ResponseWriter, r *http.Request, origin string) error) {
	s.mux.HandleFunc(pattern, s.authed(h))
}

// getVersion answers GET /_matrix/federation/v1/version (no
// authentication).
func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{
		"server": map[string]string{"name": "hearth", "version": s.opts.Version},
	})
}

// authed wraps a handler with X-Matrix authentication: the body is read
// (at most MaxRequestBody), the signature checked with the origin's key,
// the origin's concurrency bounded; the handler gets the origin and a
// body it can read again. Its error is written through matrixhttp.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, origin string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin, err := s.authenticate(r)
		if err != nil {
			matrixhttp.WriteError(w, r, err)
			return
		}
		release, ok := s.limits.acquire(origin)
		if !ok {
			matrixhttp.WriteError(w, r, errTooManyRequests)
			return
		}
		defer release()
		if s.opts.OriginSeen != nil {
			s.opts.OriginSeen(r.Context(), origin)
		}
		if err := h(w, r, origin); err != nil {
			matrixhttp.WriteError(w, r, err)
		}
	}
}

// authenticate checks the request's X-Matrix authorization and returns
// its origin. On success r.Body holds the body read.
func (s *Server) authenticate(r *http.Request) (string, error) {
	var header string
	for _, h := range r.Header.Values("Authorization") {
		if len(h) > 8 && strings.EqualFold(h[:8], "x-matrix") {
			header = h
			break
		}
	}
	if header == "" {
		return "", errNoAuth
	}
	x, err := ParseXMatrix(header)
	if err != nil {
		return "", errBadAuth
	}
	if x.Destination != "" && x.Destination != s.opts.ServerName {
		return "", errWrongDest
	}
	if _, err := id.ParseServerName(x.Origin); err != nil || x.Origin == s.opts.ServerName {
		return "", errBadOrigin
	}
	body, err := matrixhttp.ReadBody(r, MaxRequestBody)
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var content []byte
	if len(bytes.TrimSpace(body)) > 0 {
		content = body
	}
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	pub, err := s.opts.KeyRing.VerifyKey(r.Context(), x.Origin, x.Key, time.Now().UnixMilli())
	if err != nil {
		if errors.Is(err, core.ErrKeyNotFound) {
			return "", errUnknownKey
		}
		if errors.Is(err, context.Canceled) {
			return "", err
		}
		s.log.Warn("federation: key lookup failed", "origin", x.Origin, "key", x.Key, "err", err)
		return "", errUnknownKey
	}
	if err := VerifyRequest(x, s.opts.ServerName, pub, r.Method, uri, content); err != nil {
		if content != nil && !jsonValid(content) {
			return "", core.ErrNotJSON
		}
		return "", errBadSignature
	}
	return x.Origin, nil
}

// originLimits counts requests in flight per origin.
type originLimits struct {
	max      int
	mu       sync.Mutex
	inFlight map[string]int
}

func (l *originLimits) acquire(origin string) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight == nil {
		l.inFlight = map[string]int{}
	}
	if l.inFlight[origin] >= l.max {
		return nil, false
	}
	l.inFlight[origin]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.inFlight[origin]--; l.inFlight[origin] <= 0 {
			delete(l.inFlight, origin)
		}
	}, true
}

// keyedMutex is a mutex per key, dropped when nobody holds or waits for it.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	ch   chan struct{} // capacity 1: holding it is holding the lock
	refs int
}

// lock takes key's lock, or gives up when ctx ends.
func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	drop := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, fmt.Errorf("federation: waiting for the origin's previous transaction: %w", ctx.Err())
	}
}
