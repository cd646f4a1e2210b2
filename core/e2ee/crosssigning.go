// Package e2ee holds the end-to-end encryption logic of the client-server
// API that sits above the key stores core declares: the checks on uploaded
// cross-signing keys (shape, usage, signatures by the master key, clashes
// with device IDs, when User-Interactive Authentication is needed) and on
// uploaded signatures (who may sign what, and that every signature
// verifies). web calls it from /keys/device_signing/upload and
// /keys/signatures/upload; federation will reuse it.
//
// The package does no I/O of its own: it works through
// core.CrossSigningStore and core.DeviceKeyStore. Importing it has no side
// effects.
package e2ee

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/signing"
)

// DeviceKeyReader reads device identity keys (core.DeviceKeyStore's
// QueryDeviceKeys).
type DeviceKeyReader interface {
	QueryDeviceKeys(ctx context.Context, requester string, query map[string][]string) (map[string]map[string]json.RawMessage, error)
}

// CrossSigning checks and stores local users' cross-signing keys and the
// signatures they upload.
type CrossSigning struct {
	keys       core.CrossSigningStore
	devices    DeviceKeyReader
	serverName string
}

// NewCrossSigning returns the cross-signing service of serverName over its
// key stores.
func NewCrossSigning(serverName string, keys core.CrossSigningStore, devices DeviceKeyReader) (*CrossSigning, error) {
	if serverName == "" || keys == nil || devices == nil {
		return nil, errors.New("e2ee: cross-signing needs the server name and the key stores")
	}
	return &CrossSigning{keys: keys, devices: devices, serverName: serverName}, nil
}

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

// describeJSON says what is wrong with JSON that did not decode.
func describeJSON(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return "wrong type for field " + te.Field
		}
		return "wrong JSON type"
	}
	return "invalid JSON"
}

// checkKey validates a cross-signing key of userID for usage: user_id,
// usage and exactly one ed25519 key whose ID names it.
func checkKey(field string, raw json.RawMessage, userID, usage string) (*checkedKey, error) {
	var k crossSigningKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, core.ErrBadJSON.WithMessage("%s: %s", field, describeJSON(err))
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

// sameJSON reports whether two JSON values are equal whatever their
// spacing and member order.
func sameJSON(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ca, errA := canonicaljson.Canonicalize(a, canonicaljson.Lenient)
	cb, errB := canonicaljson.Canonicalize(b, canonicaljson.Lenient)
	return errA == nil && errB == nil && bytes.Equal(ca, cb)
}

// given reports whether a key was sent (absent and null are not).
func given(raw json.RawMessage) bool { return raw != nil && string(raw) != "null" }

// KeyUpload is an upload of a user's cross-signing keys
// (POST /keys/device_signing/upload) whose keys have been checked.
type KeyUpload struct {
	userID           string
	masterGiven      bool
	master, ssk, usk *checkedKey

	// Unchanged is set when the request repeats the stored master key and
	// brings no key that differs from the stored ones: an idempotent retry,
	// answered with success and no change (and no authentication).
	Unchanged bool
	// NeedsAuth is set when the user already has a master key: replacing
	// keys needs User-Interactive Authentication first.
	NeedsAuth bool
}

// CheckUpload checks the keys userID uploads (nil or JSON null for a key
// not sent) and compares them with the stored ones. It returns Matrix
// errors (M_BAD_JSON, M_INVALID_PARAM) for keys that are malformed or not
// the user's.
func (c *CrossSigning) CheckUpload(ctx context.Context, userID string, master, selfSigning, userSigning json.RawMessage) (*KeyUpload, error) {
	u := &KeyUpload{userID: userID, masterGiven: given(master)}
	for _, k := range []struct {
		field, usage string
		raw          json.RawMessage
		out          **checkedKey
	}{
		{"master_key", core.CrossSigningMaster, master, &u.master},
		{"self_signing_key", core.CrossSigningSelfSigning, selfSigning, &u.ssk},
		{"user_signing_key", core.CrossSigningUserSigning, userSigning, &u.usk},
	} {
		if !given(k.raw) {
			continue
		}
		ck, err := checkKey(k.field, k.raw, userID, k.usage)
		if err != nil {
			return nil, err
		}
		*k.out = ck
	}
	stored, err := c.keys.StoredCrossSigningKeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	if stored.Master != nil {
		u.Unchanged = u.master != nil && sameJSON(u.master.raw, stored.Master) &&
			(u.ssk == nil || sameJSON(u.ssk.raw, stored.SelfSigning)) &&
			(u.usk == nil || sameJSON(u.usk.raw, stored.UserSigning))
		u.NeedsAuth = !u.Unchanged
		if u.master == nil {
			if u.master, err = checkKey("stored master key", stored.Master, userID, core.CrossSigningMaster); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

// Upload stores the keys of u, which CheckUpload returned and the caller
// has authenticated when u.NeedsAuth. The self-signing and user-signing
// keys must be signed by the master key (M_INVALID_SIGNATURE), a master key
// must be given or stored (M_MISSING_PARAM), and no key may be one of the
// user's device IDs (M_FORBIDDEN: key IDs and device IDs share a
// namespace). An unchanged upload stores nothing.
func (c *CrossSigning) Upload(ctx context.Context, u *KeyUpload) error {
	if u.Unchanged {
		return nil
	}
	if u.master == nil {
		return core.ErrMissingParam.WithMessage("No master signing key is available")
	}
	for _, k := range []struct {
		name string
		key  *checkedKey
	}{{"self-signing", u.ssk}, {"user-signing", u.usk}} {
		if k.key == nil {
			continue
		}
		if err := signing.VerifyJSON(k.key.raw, u.userID, "ed25519:"+u.master.b64, u.master.pub); err != nil {
			return core.ErrInvalidSignature.WithMessage("The %s key is not signed by the master key", k.name)
		}
	}
	// "The public key of one of the keys is the same as one of the user's
	// device IDs" is refused.
	devs, err := c.devices.QueryDeviceKeys(ctx, u.userID, map[string][]string{u.userID: nil})
	if err != nil {
		return err
	}
	for _, k := range []*checkedKey{u.master, u.ssk, u.usk} {
		if k == nil {
			continue
		}
		if _, clash := devs[u.userID][k.b64]; clash {
			return core.ErrForbidden.WithMessage("Key ID in use")
		}
	}
	var keys core.CrossSigningKeys
	if u.masterGiven {
		keys.Master = u.master.raw
	}
	if u.ssk != nil {
		keys.SelfSigning = u.ssk.raw
	}
	if u.usk != nil {
		keys.UserSigning = u.usk.raw
	}
	return c.keys.UploadCrossSigningKeys(ctx, u.userID, keys)
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

// publicKeyOf returns the public key of a stored cross-signing key ("" for
// none).
func publicKeyOf(raw json.RawMessage) string {
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

// signatureCheck is what an uploaded object must be signed by: one key
// (signer), or, for the user's own master key, any of their devices.
type signatureCheck struct {
	stored json.RawMessage // the key being signed, as stored
	signer string          // key ID that must sign, "" for any own device
	pub    ed25519.PublicKey
}

// SignatureFailures are the keys whose signatures were refused, by user ID
// and key ID, with the Matrix error of each.
type SignatureFailures map[string]map[string]*core.Error

func (f SignatureFailures) add(userID, keyID string, e *core.Error) {
	if f[userID] == nil {
		f[userID] = map[string]*core.Error{}
	}
	f[userID][keyID] = e
}

// UploadSignatures takes the signatures userID uploads
// (POST /keys/signatures/upload: signed objects by user ID and key ID):
// on their own devices by their self-signing key, on their own master key
// by their devices, and on other local users' master keys by their
// user-signing key. The signatures that verify are stored; the others are
// returned as failures. The error is for storage failures only.
func (c *CrossSigning) UploadSignatures(ctx context.Context, userID string, objects map[string]map[string]json.RawMessage) (SignatureFailures, error) {
	own, err := c.keys.StoredCrossSigningKeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	ownDevices, err := c.devices.QueryDeviceKeys(ctx, userID, map[string][]string{userID: nil})
	if err != nil {
		return nil, err
	}
	ownMaster, ownSSK, ownUSK := publicKeyOf(own.Master), publicKeyOf(own.SelfSigning), publicKeyOf(own.UserSigning)

	failures := SignatureFailures{}
	var sigs []core.KeySignature
	for _, target := range sortedKeys(objects) {
		u, perr := id.ParseUserID(target)
		for _, keyID := range sortedKeys(objects[target]) {
			obj := objects[target][keyID]
			if perr != nil {
				failures.add(target, keyID, core.ErrInvalidParam.WithMessage("Not a user ID"))
				continue
			}
			if string(u.ServerName()) != c.serverName {
				failures.add(target, keyID, core.ErrUnavailable.WithMessage("This server does not federate yet; signatures of remote keys cannot be sent"))
				continue
			}
			var chk signatureCheck
			switch {
			case target == userID && keyID == ownMaster && ownMaster != "":
				chk = signatureCheck{stored: own.Master}
			case target == userID && ownDevices[target][keyID] != nil:
				if ownSSK == "" {
					failures.add(target, keyID, core.ErrNotFound.WithMessage("No self-signing key to sign devices with"))
					continue
				}
				chk = signatureCheck{stored: ownDevices[target][keyID], signer: "ed25519:" + ownSSK, pub: ed25519Key(own.SelfSigning, "ed25519:"+ownSSK)}
			case target != userID:
				if ownUSK == "" {
					failures.add(target, keyID, core.ErrNotFound.WithMessage("No user-signing key to sign other users with"))
					continue
				}
				theirs, err := c.keys.StoredCrossSigningKeys(ctx, target)
				if err != nil {
					return nil, err
				}
				if theirs.Master == nil || publicKeyOf(theirs.Master) != keyID {
					failures.add(target, keyID, core.ErrNotFound.WithMessage("Not the user's master key"))
					continue
				}
				chk = signatureCheck{stored: theirs.Master, signer: "ed25519:" + ownUSK, pub: ed25519Key(own.UserSigning, "ed25519:"+ownUSK)}
			default:
				failures.add(target, keyID, core.ErrNotFound.WithMessage("Unknown key"))
				continue
			}
			got, e := checkSignatures(userID, target, keyID, obj, chk, ownDevices[userID])
			if e != nil {
				failures.add(target, keyID, e)
				continue
			}
			sigs = append(sigs, got...)
		}
	}
	if len(sigs) > 0 {
		if err := c.keys.AddSignatures(ctx, sigs); err != nil {
			return nil, err
		}
	}
	return failures, nil
}

// checkSignatures checks a signed object signer uploaded for target's key
// keyID against the stored key and returns the new signatures in it that
// verify. Signatures the stored key already carries are skipped.
func checkSignatures(signer, target, keyID string, obj json.RawMessage, chk signatureCheck,
	ownDevices map[string]json.RawMessage) ([]core.KeySignature, *core.Error) {
	a, okA := withoutSignatures(obj)
	b, okB := withoutSignatures(chk.stored)
	if !okA || !okB || !bytes.Equal(a, b) {
		return nil, core.ErrInvalidParam.WithMessage("The signed object is not the stored key")
	}
	already := signaturesBy(chk.stored, signer)
	var out []core.KeySignature
	for sigKeyID, sig := range signaturesBy(obj, signer) {
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
		if pub == nil || signing.VerifyJSON(obj, signer, sigKeyID, pub) != nil {
			return nil, core.ErrInvalidSignature.WithMessage("Invalid signature by %s", sigKeyID)
		}
		out = append(out, core.KeySignature{
			SignerUserID: signer, SignerKeyID: sigKeyID,
			TargetUserID: target, TargetKeyID: keyID, Signature: sig,
		})
	}
	if len(out) == 0 && chk.signer != "" && already[chk.signer] == "" {
		return nil, core.ErrInvalidSignature.WithMessage("No signature by %s", chk.signer)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
