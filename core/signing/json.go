package signing

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"

	"hearth.dev/hearth/core/canonicaljson"
)

// object is a canonical JSON object as its members, in key order.
type object struct {
	members []objMember
}

type objMember struct {
	key string
	val []byte // canonical JSON
}

// parseObject canonicalises data in mode and splits the object into
// members.
func parseObject(data []byte, mode canonicaljson.Mode) (*object, error) {
	c, err := canonicaljson.Canonicalize(data, mode)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return splitObject(c)
}

// splitObject splits canonical object c; values are sub-slices of c.
func splitObject(c []byte) (*object, error) {
	o := &object{}
	err := canonicaljson.Members(c, func(k, v []byte) error {
		o.members = append(o.members, objMember{key: string(k), val: v})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return o, nil
}

func (o *object) get(key string) []byte {
	for _, m := range o.members {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// set adds or replaces a member; val must be canonical.
func (o *object) set(key string, val []byte) {
	i, found := slices.BinarySearchFunc(o.members, key, func(m objMember, k string) int { return strings.Compare(m.key, k) })
	if found {
		o.members[i].val = val
		return
	}
	o.members = slices.Insert(o.members, i, objMember{key: key, val: val})
}

// appendJSON appends the canonical object to dst, leaving out the given
// keys.
func (o *object) appendJSON(dst []byte, drop ...string) []byte {
	dst = append(dst, '{')
	first := true
	for _, m := range o.members {
		if slices.Contains(drop, m.key) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = canonicaljson.AppendString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return append(dst, '}')
}

// signedBytes is what a signature covers: the canonical object without
// "signatures" and "unsigned".
func (o *object) signedBytes() []byte {
	return o.appendJSON(nil, "signatures", "unsigned")
}

// addSignature returns the object's "signatures" value with
// signatures[serverName][keyID] set to sig.
func (o *object) addSignature(serverName, keyID, sig string) ([]byte, error) {
	if _, err := signaturesOf(o); err != nil {
		return nil, err
	}
	sigs := &object{}
	if raw := o.get("signatures"); raw != nil {
		if raw[0] != '{' {
			return nil, fmt.Errorf("signing: signatures is not an object: %w", canonicaljson.ErrInvalid)
		}
		var err error
		if sigs, err = splitObject(raw); err != nil {
			return nil, err
		}
	}
	server := &object{}
	if raw := sigs.get(serverName); raw != nil {
		if raw[0] != '{' {
			return nil, fmt.Errorf("signing: signatures of %q is not an object: %w", serverName, canonicaljson.ErrInvalid)
		}
		var err error
		if server, err = splitObject(raw); err != nil {
			return nil, err
		}
	}
	server.set(keyID, canonicaljson.AppendString(nil, sig))
	sigs.set(serverName, server.appendJSON(nil))
	return sigs.appendJSON(nil), nil
}

// SignJSON signs the JSON object obj as serverName with the key keyID and
// returns it, as canonical JSON, with the signature added under
// signatures[serverName][keyID] (the "Signing JSON" algorithm). Existing
// signatures and unsigned are kept and not covered by the signature. obj
// must be valid in canonicaljson.Strict mode.
func SignJSON(obj []byte, serverName, keyID string, priv ed25519.PrivateKey) ([]byte, error) {
	o, err := parseObject(obj, canonicaljson.Strict)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, o.signedBytes())
	sigs, err := o.addSignature(serverName, keyID, EncodeBase64(sig))
	if err != nil {
		return nil, err
	}
	o.set("signatures", sigs)
	return o.appendJSON(nil), nil
}

// VerifyJSON checks that obj carries a valid signature by serverName with
// the key keyID (the "Checking for a Signature" algorithm). The JSON is
// read in canonicaljson.Lenient mode, so objects signed by servers that
// allowed more than the strict grammar still verify. It returns an error
// wrapping ErrMissingSignature or ErrBadSignature.
func VerifyJSON(obj []byte, serverName, keyID string, pub ed25519.PublicKey) error {
	o, err := parseObject(obj, canonicaljson.Lenient)
	if err != nil {
		return err
	}
	sigs, err := signaturesOf(o)
	if err != nil {
		return err
	}
	sig, ok := sigs[serverName][keyID]
	if !ok {
		return fmt.Errorf("%w: no %s signature by %s", ErrMissingSignature, keyID, serverName)
	}
	return verify(pub, o.signedBytes(), sig, serverName, keyID)
}

// VerifyAnySignature reports whether any ed25519 signature in obj, by any
// signer, verifies with pub: the check third-party invites use ("If any
// signature in signed matches any public key in the
// m.room.third_party_invite event"). It returns an error wrapping
// ErrMissingSignature if none does.
func VerifyAnySignature(obj []byte, pub ed25519.PublicKey) error {
	o, err := parseObject(obj, canonicaljson.Lenient)
	if err != nil {
		return err
	}
	sigs, err := signaturesOf(o)
	if err != nil {
		return err
	}
	signed := o.signedBytes()
	for server, keys := range sigs {
		for keyID, sig := range keys {
			if strings.HasPrefix(keyID, "ed25519:") && verify(pub, signed, sig, server, keyID) == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no signature verifies with the given key", ErrMissingSignature)
}

func verify(pub ed25519.PublicKey, signed []byte, sig, serverName, keyID string) error {
	raw, err := DecodeBase64(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s %s: not a base64 ed25519 signature", ErrBadSignature, serverName, keyID)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signed, raw) {
		return fmt.Errorf("%w: %s %s does not verify", ErrBadSignature, serverName, keyID)
	}
	return nil
}

// signaturesOf reads the "signatures" member: {server: {key ID: sig}}.
func signaturesOf(o *object) (map[string]map[string]string, error) {
	raw := o.get("signatures")
	out := map[string]map[string]string{}
	if raw == nil {
		return out, nil
	}
	bad := fmt.Errorf("%w: signatures is not an object of objects of strings", ErrBadSignature)
	if raw[0] != '{' {
		return nil, bad
	}
	err := canonicaljson.Members(raw, func(server, keys []byte) error {
		if keys[0] != '{' {
			return bad
		}
		m := map[string]string{}
		out[string(server)] = m
		return canonicaljson.Members(keys, func(keyID, sig []byte) error {
			if sig[0] != '"' {
				return bad
			}
			s, err := canonicaljson.Unquote(sig)
			m[string(keyID)] = s
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
