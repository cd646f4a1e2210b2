package web

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/signing"
)

// crossSigningKey is a CrossSigningKey object, read to check it.
type crossSigningKey struct {
	UserID     *string                      `json:"user_id"`
	Usage      []string                     `json:"usage"`
	Keys       map[string]string            `json:"keys"`
	Signatures map[string]map[string]string `json:"signatures"`
}

// checkedKey is a validated cross-signing key: its JSON and public key.
type checkedKey struct {
	raw json.RawMessage
	pub ed25519.PublicKey
	// b64 is the public key in unpadded base64, as in its key ID.
	b64 string
}

// checkCrossSigningKey validates a cross-signing key of userID for usage:
// user_id, usage and exactly one ed25519 key whose ID names it.
func checkCrossSigningKey(field string, raw json.RawMessage, userID, usage string) (*checkedKey, error) {
	var k crossSigningKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, core.ErrBadJSON.WithMessage("%s: %s", field, describeJSONError(err))
	}
	if k.UserID == nil || k.Usage == nil || k.Keys == nil {
		return nil, core.ErrBadJSON.WithMessage("%s needs user_id, usage and keys", field)
	}
	if *k.UserID != userID {
		return nil, core.ErrInvalidParam.WithMessage("%s.user_id %q is not the logged-in user", field, *k.UserID)
	}
	if !slices.Contains(k.Usage, usage) {
		return nil, core.ErrInvalidParam.WithMessage("%s.usage must contain %q", field, usage)
	}
	if len(k.Keys) != 1 {
		return nil, core.ErrInvalidParam.WithMessage("%s.keys must hold exactly one key", field)
	}
	for keyID, b64 := range k.Keys {
		pub, err := signing.DecodeBase64(b64)
		if keyID != "ed25519:"+b64 || err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, core.ErrInvalidParam.WithMessage("%s.keys must be {\"ed25519:<public key>\": \"<public key>\"}", field)
		}
		return &checkedKey{raw: raw, pub: ed25519.PublicKey(pub), b64: b64}, nil
	}
	return nil, core.ErrInvalidParam.WithMessage("%s.keys must hold exactly one key", field)
}

// sameKeyJSON reports whether two JSON values are equal whatever their
// spacing and member order.
func sameKeyJSON(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ca, errA := canonicaljson.Canonicalize(a, canonicaljson.Lenient)
	cb, errB := canonicaljson.Canonicalize(b, canonicaljson.Lenient)
	return errA == nil && errB == nil && bytes.Equal(ca, cb)
}

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
	var master, ssk, usk *checkedKey
	for _, k := range []struct {
		field, usage string
		raw          json.RawMessage
		out          **checkedKey
	}{
		{"master_key", core.CrossSigningMaster, req.MasterKey, &master},
		{"self_signing_key", core.CrossSigningSelfSigning, req.SelfSigningKey, &ssk},
		{"user_signing_key", core.CrossSigningUserSigning, req.UserSigningKey, &usk},
	} {
		if k.raw == nil || string(k.raw) == "null" {
			continue
		}
		ck, err := checkCrossSigningKey(k.field, k.raw, sess.UserID, k.usage)
		if err != nil {
			return err
		}
		*k.out = ck
	}
	ctx := r.Context()
	stored, err := s.opts.CrossSigning.StoredCrossSigningKeys(ctx, sess.UserID)
	if err != nil {
		return err
	}

	// UIA is needed unless the user has no master key yet, or the request
	// repeats the stored master key and brings no key that differs from
	// the stored ones (an idempotent retry, answered without a change).
	var uia *uiaSession
	if stored.Master != nil {
		same := master != nil && sameKeyJSON(master.raw, stored.Master) &&
			(ssk == nil || sameKeyJSON(ssk.raw, stored.SelfSigning)) &&
			(usk == nil || sameKeyJSON(usk.raw, stored.UserSigning))
		if same {
			writeJSON(w, http.StatusOK, map[string]any{})
			return nil
		}
		if uia, err = s.crossSigningUIA(r, sess, req.Auth); err != nil {
			return err
		}
	}
	if master == nil && stored.Master != nil {
		if master, err = checkCrossSigningKey("stored master key", stored.Master, sess.UserID, core.CrossSigningMaster); err != nil {
			return err
		}
	}
	if master == nil {
		return core.ErrMissingParam.WithMessage("No master signing key is available")
	}
	// The self-signing and user-signing keys must be signed by the master
	// key.
	for _, k := range []struct {
		name string
		key  *checkedKey
	}{{"self-signing", ssk}, {"user-signing", usk}} {
		if k.key == nil {
			continue
		}
		if err := signing.VerifyJSON(k.key.raw, sess.UserID, "ed25519:"+master.b64, master.pub); err != nil {
			return core.ErrInvalidSignature.WithMessage("The %s key is not signed by the master key", k.name)
		}
	}
	// "The public key of one of the keys is the same as one of the user's
	// device IDs" is refused: key IDs and device IDs share a namespace.
	devs, err := s.opts.DeviceKeys.QueryDeviceKeys(ctx, sess.UserID, map[string][]string{sess.UserID: nil})
	if err != nil {
		return err
	}
	for _, k := range []*checkedKey{master, ssk, usk} {
		if k == nil {
			continue
		}
		if _, clash := devs[sess.UserID][k.b64]; clash {
			return core.ErrForbidden.WithMessage("Key ID in use")
		}
	}
	var keys core.CrossSigningKeys
	if req.MasterKey != nil && string(req.MasterKey) != "null" {
		keys.Master = master.raw
	}
	if ssk != nil {
		keys.SelfSigning = ssk.raw
	}
	if usk != nil {
		keys.UserSigning = usk.raw
	}
	if err := s.opts.CrossSigning.UploadCrossSigningKeys(ctx, sess.UserID, keys); err != nil {
		return err
	}
	if uia != nil {
		s.acct.uia.finish(uia)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// signatureFailure is one entry of /keys/signatures/upload's failures.
func signatureFailure(e *core.Error) map[string]string {
	return map[string]string{"errcode": e.ErrCode, "error": e.Message}
}

// withoutSignatures returns the canonical JSON of obj without signatures
// and unsigned, to compare an uploaded object with the stored key.
func withoutSignatures(obj []byte) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return nil, false
	}
	delete(m, "signatures")
	delete(m, "unsigned")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, false
	}
	c, err := canonicaljson.Canonicalize(b, canonicaljson.Lenient)
	return c, err == nil
}

// signaturesBy returns the signatures of userID in the JSON object obj.
func signaturesBy(obj []byte, userID string) map[string]string {
	var k struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if json.Unmarshal(obj, &k) != nil {
		return nil
	}
	return k.Signatures[userID]
}

// ed25519Key returns the public key stored under keyID in a key object's
// keys member.
func ed25519Key(obj []byte, keyID string) ed25519.PublicKey {
	var k struct {
		Keys map[string]string `json:"keys"`
	}
	if json.Unmarshal(obj, &k) != nil {
		return nil
	}
	b, err := signing.DecodeBase64(k.Keys[keyID])
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(b)
}

// signatureCheck is what an uploaded object must be signed by: one key
// (signer), or, for the user's own master key, any of their devices.
type signatureCheck struct {
	stored json.RawMessage // the key being signed, as stored
	signer string          // key ID that must sign, "" for any own device
	pub    ed25519.PublicKey
}

// postSignaturesUpload is POST /keys/signatures/upload. It takes the
// signatures made by the uploader: on their own devices by their
// self-signing key, on their own master key by their devices, and on other
// local users' master keys by their user-signing key.
func (s *Server) postSignaturesUpload(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var req map[string]map[string]json.RawMessage
	if err := readJSON(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	own, err := s.opts.CrossSigning.StoredCrossSigningKeys(ctx, sess.UserID)
	if err != nil {
		return err
	}
	ownDevices, err := s.opts.DeviceKeys.QueryDeviceKeys(ctx, sess.UserID, map[string][]string{sess.UserID: nil})
	if err != nil {
		return err
	}
	keyOf := func(raw json.RawMessage) string {
		if raw == nil {
			return ""
		}
		var k crossSigningKey
		if json.Unmarshal(raw, &k) != nil {
			return ""
		}
		for _, v := range k.Keys {
			return v
		}
		return ""
	}
	ownMaster, ownSSK, ownUSK := keyOf(own.Master), keyOf(own.SelfSigning), keyOf(own.UserSigning)

	failures := map[string]map[string]any{}
	fail := func(userID, keyID string, e *core.Error) {
		if failures[userID] == nil {
			failures[userID] = map[string]any{}
		}
		failures[userID][keyID] = signatureFailure(e)
	}
	var sigs []core.KeySignature
	for _, userID := range sortedStrings(req) {
		isLocal, _, ok := s.isLocalUser(userID)
		for _, keyID := range sortedStrings(req[userID]) {
			obj := req[userID][keyID]
			if !ok {
				fail(userID, keyID, core.ErrInvalidParam.WithMessage("Not a user ID"))
				continue
			}
			if !isLocal {
				fail(userID, keyID, core.ErrUnavailable.WithMessage("This server does not federate yet; signatures of remote keys cannot be sent"))
				continue
			}
			var chk signatureCheck
			switch {
			case userID == sess.UserID && keyID == ownMaster && ownMaster != "":
				chk = signatureCheck{stored: own.Master}
			case userID == sess.UserID && ownDevices[userID][keyID] != nil:
				if ownSSK == "" {
					fail(userID, keyID, core.ErrNotFound.WithMessage("No self-signing key to sign devices with"))
					continue
				}
				chk = signatureCheck{stored: ownDevices[userID][keyID], signer: "ed25519:" + ownSSK, pub: ed25519Key(own.SelfSigning, "ed25519:"+ownSSK)}
			case userID != sess.UserID:
				if ownUSK == "" {
					fail(userID, keyID, core.ErrNotFound.WithMessage("No user-signing key to sign other users with"))
					continue
				}
				theirs, err := s.opts.CrossSigning.StoredCrossSigningKeys(ctx, userID)
				if err != nil {
					return err
				}
				if theirs.Master == nil || keyOf(theirs.Master) != keyID {
					fail(userID, keyID, core.ErrNotFound.WithMessage("Not the user's master key"))
					continue
				}
				chk = signatureCheck{stored: theirs.Master, signer: "ed25519:" + ownUSK, pub: ed25519Key(own.UserSigning, "ed25519:"+ownUSK)}
			default:
				fail(userID, keyID, core.ErrNotFound.WithMessage("Unknown key"))
				continue
			}
			got, e := checkUploadedSignatures(sess, userID, keyID, obj, chk, ownDevices[sess.UserID])
			if e != nil {
				fail(userID, keyID, e)
				continue
			}
			sigs = append(sigs, got...)
		}
	}
	if len(sigs) > 0 {
		if err := s.opts.CrossSigning.AddSignatures(ctx, sigs); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"failures": failures})
	return nil
}

// checkUploadedSignatures checks an uploaded signed object against the
// stored key and returns the new signatures in it that verify. Signatures
// the stored key already carries are skipped.
func checkUploadedSignatures(sess *core.Session, userID, keyID string, obj json.RawMessage, chk signatureCheck,
	ownDevices map[string]json.RawMessage) ([]core.KeySignature, *core.Error) {
	a, okA := withoutSignatures(obj)
	b, okB := withoutSignatures(chk.stored)
	if !okA || !okB || !bytes.Equal(a, b) {
		return nil, core.ErrInvalidParam.WithMessage("The signed object is not the stored key")
	}
	already := signaturesBy(chk.stored, sess.UserID)
	var out []core.KeySignature
	for sigKeyID, sig := range signaturesBy(obj, sess.UserID) {
		if already[sigKeyID] == sig {
			continue
		}
		pub := chk.pub
		if chk.signer == "" {
			// The user's own master key, signed by one of their devices.
			dev, ok := strings.CutPrefix(sigKeyID, "ed25519:")
			if !ok || ownDevices[dev] == nil {
				return nil, core.ErrInvalidSignature.WithMessage("%s is not a key of one of your devices", sigKeyID)
			}
			pub = ed25519Key(ownDevices[dev], sigKeyID)
		} else if sigKeyID != chk.signer {
			continue
		}
		if pub == nil || signing.VerifyJSON(obj, sess.UserID, sigKeyID, pub) != nil {
			return nil, core.ErrInvalidSignature.WithMessage("Invalid signature by %s", sigKeyID)
		}
		out = append(out, core.KeySignature{
			SignerUserID: sess.UserID, SignerKeyID: sigKeyID,
			TargetUserID: userID, TargetKeyID: keyID, Signature: sig,
		})
	}
	if len(out) == 0 && chk.signer != "" && already[chk.signer] == "" {
		return nil, core.ErrInvalidSignature.WithMessage("No signature by %s", chk.signer)
	}
	return out, nil
}

func sortedStrings[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
