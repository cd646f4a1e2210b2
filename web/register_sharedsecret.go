package web

// Registration with a shared secret, as Synapse's admin API offers it
// (/_synapse/admin/v1/register): admin tooling and test harnesses create
// accounts with it whatever the registration mode. GET hands out a nonce;
// POST registers with the nonce and an HMAC-SHA1, under
// registration_shared_secret, of
// nonce NUL username NUL password NUL ("admin" | "notadmin") [NUL user_type].

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// sharedSecretNonceLifetime is how long a nonce may be used (Synapse: 60 s).
const sharedSecretNonceLifetime = time.Minute

// maxSharedSecretNonces bounds the nonces held at once; past it the
// oldest go first.
const maxSharedSecretNonces = 1000

// nonceStore keeps the unused nonces of shared-secret registration, each
// good once until it expires.
type nonceStore struct {
	mu sync.Mutex
	m  map[string]time.Time // nonce → when it was given out
}

// issue returns a new nonce given out at now, dropping expired ones.
func (ns *nonceStore) issue(now time.Time) string {
	b := make([]byte, 16)
	rand.Read(b)
	n := hex.EncodeToString(b)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.m == nil {
		ns.m = map[string]time.Time{}
	}
	var oldest string
	for k, t := range ns.m {
		if now.Sub(t) > sharedSecretNonceLifetime {
			delete(ns.m, k)
		} else if oldest == "" || t.Before(ns.m[oldest]) {
			oldest = k
		}
	}
	if len(ns.m) >= maxSharedSecretNonces {
		delete(ns.m, oldest)
	}
	ns.m[n] = now
	return n
}

// take uses up nonce, reporting whether it was given out and is still
// valid at now.
func (ns *nonceStore) take(nonce string, now time.Time) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	t, ok := ns.m[nonce]
	delete(ns.m, nonce)
	return ok && now.Sub(t) <= sharedSecretNonceLifetime
}

// registerSharedSecretRoutes serves /_synapse/admin/v1/register.
func (s *Server) registerSharedSecretRoutes() {
	s.mux.HandleFunc("GET /_synapse/admin/v1/register", public(s.getSharedSecretNonce))
	s.mux.HandleFunc("POST /_synapse/admin/v1/register", public(s.postSharedSecretRegister))
}

// errSharedSecretOff answers while no registration_shared_secret is set
// (Synapse's words).
var errSharedSecretOff = core.ErrUnknown.WithMessage("Shared secret registration is not enabled").WithStatus(http.StatusBadRequest)

// getSharedSecretNonce answers GET /_synapse/admin/v1/register.
func (s *Server) getSharedSecretNonce(w http.ResponseWriter, r *http.Request) error {
	if s.opts.RegistrationSharedSecret == "" {
		return errSharedSecretOff
	}
	if err := s.rateLimit(w, r, actionRegisterQuery); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"nonce": s.acct.nonces.issue(s.opts.Now())})
	return nil
}

// postSharedSecretRegister answers POST /_synapse/admin/v1/register.
func (s *Server) postSharedSecretRegister(w http.ResponseWriter, r *http.Request) error {
	if s.opts.RegistrationSharedSecret == "" {
		return errSharedSecretOff
	}
	if err := s.rateLimit(w, r, actionRegister); err != nil {
		return err
	}
	var body struct {
		Nonce       *string `json:"nonce"`
		Username    *string `json:"username"`
		Password    *string `json:"password"`
		DisplayName *string `json:"displayname"`
		Admin       bool    `json:"admin"`
		UserType    *string `json:"user_type"`
		MAC         *string `json:"mac"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	switch {
	case body.Nonce == nil:
		return core.ErrMissingParam.WithMessage("nonce is required")
	case body.Username == nil || *body.Username == "":
		return core.ErrMissingParam.WithMessage("username is required")
	case body.Password == nil || *body.Password == "":
		return core.ErrMissingParam.WithMessage("password is required")
	case body.MAC == nil:
		return core.ErrMissingParam.WithMessage("mac is required")
	case len(*body.Password) > maxPasswordLength:
		return core.ErrInvalidParam.WithMessage("password too long")
	}
	if body.UserType != nil && *body.UserType != "support" && *body.UserType != "bot" {
		return core.ErrInvalidParam.WithMessage("Invalid user type")
	}
	// The nonce is used up by this attempt, whatever its outcome.
	if !s.acct.nonces.take(*body.Nonce, s.opts.Now()) {
		return core.ErrInvalidParam.WithMessage("unrecognised nonce")
	}
	want := sharedSecretMAC(s.opts.RegistrationSharedSecret, *body.Nonce, *body.Username, *body.Password, body.Admin, body.UserType)
	got, err := hex.DecodeString(*body.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return core.ErrForbidden.WithMessage("HMAC incorrect")
	}
	userID, err := s.availableUserID(r, *body.Username)
	if err != nil {
		return err
	}
	acct := core.NewAccount{UserID: userID, Password: *body.Password, Admin: body.Admin}
	if body.UserType != nil {
		acct.UserType = *body.UserType
	}
	created, err := s.opts.Accounts.CreateAccount(r.Context(), acct)
	if err != nil {
		return err
	}
	name := id.UserID(created.UserID).Localpart()
	if body.DisplayName != nil && *body.DisplayName != "" {
		name = *body.DisplayName
	}
	// The account exists already: a failure here is logged, not answered.
	if err := s.opts.ProfileUpdates.SetNames(r.Context(), created.UserID, &name, nil); err != nil {
		slog.WarnContext(r.Context(), "shared-secret registration: display name", "user", created.UserID, "err", err)
	}
	tok, err := s.opts.Tokens.IssueTokens(r.Context(), core.NewLogin{UserID: created.UserID})
	if err != nil {
		return err
	}
	resp := map[string]any{"user_id": created.UserID, "home_server": s.opts.ServerName}
	addTokens(resp, tok)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// sharedSecretMAC is the HMAC-SHA1 a shared-secret registration must
// carry.
func sharedSecretMAC(secret, nonce, username, password string, admin bool, userType *string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(nonce))
	m.Write([]byte{0})
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Write([]byte{0})
	if admin {
		m.Write([]byte("admin"))
	} else {
		m.Write([]byte("notadmin"))
	}
	if userType != nil {
		m.Write([]byte{0})
		m.Write([]byte(*userType))
	}
	return m.Sum(nil)
}
