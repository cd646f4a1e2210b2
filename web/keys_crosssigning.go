package web

import (
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/e2ee"
)

// Cross-signing: the checks on uploaded keys and signatures are
// core/e2ee's; these handlers read the request, run User-Interactive
// Authentication when replacing keys needs it, and answer.

// crossSigningUIA runs User-Interactive Authentication (m.login.password
// as the logged-in user) for replacing cross-signing keys. It returns the
// completed session, to finish once the upload succeeded, or the challenge
// or error to answer with.
func (s *Server) crossSigningUIA(r *http.Request, sess *core.Session, auth json.RawMessage) (*uiaSession, error) {
	return s.interactiveAuth(r, auth, uiaRequest{
		op:     "keys/device_signing/upload",
		flows:  passwordFlows,
		userID: sess.UserID,
	})
}

// postDeviceSigningUpload is POST /keys/device_signing/upload.
func (s *Server) postDeviceSigningUpload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req struct {
		MasterKey      json.RawMessage `json:"master_key"`
		SelfSigningKey json.RawMessage `json:"self_signing_key"`
		UserSigningKey json.RawMessage `json:"user_signing_key"`
		Auth           json.RawMessage `json:"auth"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	up, err := s.opts.CrossSigner.CheckUpload(r.Context(), sess.UserID, req.MasterKey, req.SelfSigningKey, req.UserSigningKey)
	if err != nil {
		return err
	}
	// UIA is needed unless the user has no master key yet, or the request
	// repeats the stored keys (an idempotent retry, answered without a
	// change).
	var uia *uiaSession
	if up.NeedsAuth {
		if uia, err = s.crossSigningUIA(r, sess, req.Auth); err != nil {
			return err
		}
	}
	if err := s.opts.CrossSigner.Upload(r.Context(), up); err != nil {
		return err
	}
	if uia != nil {
		s.acct.uia.finish(uia)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// postSignaturesUpload is POST /keys/signatures/upload.
func (s *Server) postSignaturesUpload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req map[string]map[string]json.RawMessage
	if err := readJSON(r, &req); err != nil {
		return err
	}
	failures, err := s.opts.CrossSigner.UploadSignatures(r.Context(), sess.UserID, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"failures": signatureFailures(failures)})
	return nil
}

// signatureFailures is the failures object of /keys/signatures/upload.
func signatureFailures(f e2ee.SignatureFailures) map[string]map[string]any {
	out := make(map[string]map[string]any, len(f))
	for userID, keys := range f {
		out[userID] = make(map[string]any, len(keys))
		for keyID, e := range keys {
			out[userID][keyID] = map[string]string{"errcode": e.ErrCode, "error": e.Message}
		}
	}
	return out
}
