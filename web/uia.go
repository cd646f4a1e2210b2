package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
)

// User-interactive authentication (spec: "User-Interactive Authentication
// API"). Sessions live in memory: hearth serves a handful of users, and a
// session lost with a restart only means the client starts again.

// The auth types hearth offers.
const (
	authPassword          = "m.login.password"
	authDummy             = "m.login.dummy"
	authRegistrationToken = "m.login.registration_token"
)

// uiaSessionLifetime is how long an unfinished session is kept.
const uiaSessionLifetime = 30 * time.Minute

// passwordFlows is what endpoints that confirm the user's identity offer.
var passwordFlows = [][]string{{authPassword}}

// uiaRequest says what an endpoint asks of interactive auth.
type uiaRequest struct {
	// op names the endpoint; a session serves one op only.
	op    string
	flows [][]string
	// userID is the user who must authenticate (from the access token);
	// empty lets the m.login.password stage say who it is.
	userID string
	// tokenAllowed decides whether a reserved registration token may
	// authorise this request (nil: any valid token).
	tokenAllowed func(core.RegistrationToken) bool
}

// uiaSession is one interactive-auth session. id, op, flows and expires
// never change; mu guards the rest.
type uiaSession struct {
	mu        sync.Mutex
	id        string
	op        string
	userID    string
	flows     [][]string
	completed []string
	expires   time.Time
	// regToken is the registration token reserved by this session.
	regToken string
}

// complete reports whether the completed stages make up a whole flow.
func (u *uiaSession) complete() bool {
	for _, f := range u.flows {
		if slices.Equal(f, u.completed) {
			return true
		}
	}
	return false
}

// offers reports whether typ is the next stage of a flow the completed
// stages are a beginning of.
func (u *uiaSession) offers(typ string) bool {
	for _, f := range u.flows {
		if len(f) > len(u.completed) && slices.Equal(f[:len(u.completed)], u.completed) && f[len(u.completed)] == typ {
			return true
		}
	}
	return false
}

// uiaSessions holds the live sessions.
type uiaSessions struct {
	mu sync.Mutex
	m  map[string]*uiaSession
}

// uiaChallenge is the 401 answer that asks for (more) authentication. It
// carries errcode and error when a stage attempt failed.
type uiaChallenge struct {
	Flows     []uiaFlow      `json:"flows"`
	Params    map[string]any `json:"params"`
	Session   string         `json:"session"`
	Completed []string       `json:"completed,omitempty"`
	ErrCode   string         `json:"errcode,omitempty"`
	Message   string         `json:"error,omitempty"`
}

type uiaFlow struct {
	Stages []string `json:"stages"`
}

func (c *uiaChallenge) Error() string {
	if c.ErrCode != "" {
		return "interactive auth: " + c.ErrCode + ": " + c.Message
	}
	return "interactive auth required"
}

// Response makes a challenge a matrixhttp.Responder: the error writer sends
// it as the spec's 401 body.
func (c *uiaChallenge) Response() (int, any) { return http.StatusUnauthorized, c }

var _ matrixhttp.Responder = (*uiaChallenge)(nil)

// authDict is the request's "auth" object.
type authDict struct {
	Type       string          `json:"type"`
	Session    string          `json:"session"`
	Password   string          `json:"password"`
	Identifier *userIdentifier `json:"identifier"`
	User       string          `json:"user"`
	Token      string          `json:"token"`
}

// interactiveAuth runs one step of interactive auth for the request. It
// returns the session once its completed stages make up a flow; the
// handler then does its work and calls finish. Otherwise it returns a
// *uiaChallenge (the error writer sends it as a 401 challenge) or another
// error.
//
// A request whose auth names no session, or one that is unknown, expired
// or belongs to another endpoint, starts a new session and still has its
// stage checked: so a client may complete a one-stage flow such as
// m.login.dummy in a single request, as matrix-nio does.
func (s *Server) interactiveAuth(r *http.Request, raw json.RawMessage, req uiaRequest) (*uiaSession, error) {
	var auth authDict
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auth); err != nil {
			return nil, core.ErrBadJSON.WithMessage("auth: %s", describeJSONError(err))
		}
	}
	now := s.opts.Now()
	sess := s.acct.uia.get(auth.Session, req.op, now)
	if sess != nil {
		sess.mu.Lock()
		if req.userID != "" && sess.userID != "" && sess.userID != req.userID {
			// Another user's session: not this request's.
			sess.mu.Unlock()
			sess = nil
		}
	}
	if sess == nil {
		sess = s.acct.uia.start(req, now, s.releaseToken)
		sess.mu.Lock()
	}
	// Attempts on one session run one at a time.
	defer sess.mu.Unlock()
	if sess.complete() {
		return sess, nil
	}
	if auth.Type == "" {
		return nil, sess.challenge(nil)
	}
	if slices.Contains(sess.completed, auth.Type) {
		// "Completed stages cannot be retried by clients."
		return nil, sess.challenge(nil)
	}
	if !sess.offers(auth.Type) {
		return nil, sess.challenge(core.ErrForbidden.WithMessage("Auth type %s is not offered at this stage", auth.Type))
	}
	if err := s.authStage(r, sess, req, &auth); err != nil {
		if err == errUIAOtherUser {
			// Not a failed stage to retry: a plain 403 (as Synapse).
			return nil, err
		}
		var me *core.Error
		if errors.As(err, &me) && me.Status < 500 && me.Status != http.StatusTooManyRequests {
			return nil, sess.challenge(me)
		}
		return nil, err
	}
	sess.completed = append(sess.completed, auth.Type)
	if sess.complete() {
		return sess, nil
	}
	return nil, sess.challenge(nil)
}

// errUIAOtherUser refuses a password stage that names another user than
// the one the request must authenticate.
var errUIAOtherUser = core.ErrForbidden.WithMessage("You can only authenticate as yourself")

// authStage checks one stage's credentials.
func (s *Server) authStage(r *http.Request, sess *uiaSession, req uiaRequest, auth *authDict) error {
	switch auth.Type {
	case authDummy:
		return nil
	case authPassword:
		if err := s.rateLimit(nil, r, actionLogin); err != nil {
			return err
		}
		userID, err := s.identifiedUser(auth.Identifier, auth.User)
		if err != nil {
			return err
		}
		if sess.userID != "" && userID != sess.userID {
			return errUIAOtherUser
		}
		if err := s.checkPassword(nil, r, userID, auth.Password); err != nil {
			return err
		}
		sess.userID = userID
		return nil
	case authRegistrationToken:
		if auth.Token == "" {
			return core.ErrMissingParam.WithMessage("token is required")
		}
		tok, err := s.opts.RegistrationTokens.ReserveRegistrationToken(r.Context(), auth.Token)
		if err != nil {
			return err
		}
		if req.tokenAllowed != nil && !req.tokenAllowed(tok) {
			s.releaseToken(tok.Token)
			return core.ErrForbidden.WithMessage("Invalid registration token")
		}
		old := sess.regToken
		sess.regToken = tok.Token
		if old != "" {
			s.releaseToken(old)
		}
		return nil
	}
	return core.ErrForbidden.WithMessage("Unsupported auth type %s", auth.Type)
}

// releaseToken gives back a registration token's pending use.
func (s *Server) releaseToken(token string) {
	if err := s.opts.RegistrationTokens.ReleaseRegistrationToken(context.Background(), token); err != nil {
		slog.Error("releasing a registration token", "err", err)
	}
}

// challenge builds the 401 answer for the session's current state, with
// err's errcode and message when a stage failed.
func (u *uiaSession) challenge(err *core.Error) *uiaChallenge {
	c := &uiaChallenge{Params: map[string]any{}, Session: u.id, Completed: slices.Clone(u.completed)}
	for _, f := range u.flows {
		c.Flows = append(c.Flows, uiaFlow{Stages: f})
	}
	if err != nil {
		c.ErrCode, c.Message = err.ErrCode, err.Message
	}
	return c
}

// get returns the live session id if it serves op, or nil.
func (us *uiaSessions) get(id, op string, now time.Time) *uiaSession {
	if id == "" {
		return nil
	}
	us.mu.Lock()
	defer us.mu.Unlock()
	sess := us.m[id]
	if sess == nil || sess.op != op || now.After(sess.expires) {
		return nil
	}
	return sess
}

// start opens a new session for req, dropping expired ones (and giving
// back the registration tokens they reserved through release).
func (us *uiaSessions) start(req uiaRequest, now time.Time, release func(string)) *uiaSession {
	b := make([]byte, 18)
	rand.Read(b)
	sess := &uiaSession{
		id:      base64.RawURLEncoding.EncodeToString(b),
		op:      req.op,
		userID:  req.userID,
		flows:   req.flows,
		expires: now.Add(uiaSessionLifetime),
	}
	var expired []*uiaSession
	us.mu.Lock()
	if us.m == nil {
		us.m = make(map[string]*uiaSession)
	}
	for k, v := range us.m {
		if now.After(v.expires) {
			delete(us.m, k)
			expired = append(expired, v)
		}
	}
	us.m[sess.id] = sess
	us.mu.Unlock()
	for _, v := range expired {
		v.mu.Lock()
		tok := v.regToken
		v.regToken = ""
		v.mu.Unlock()
		if tok != "" {
			release(tok)
		}
	}
	return sess
}

// finish ends a session whose request succeeded. Call it after
// interactiveAuth has returned.
func (us *uiaSessions) finish(sess *uiaSession) {
	us.mu.Lock()
	defer us.mu.Unlock()
	delete(us.m, sess.id)
}
