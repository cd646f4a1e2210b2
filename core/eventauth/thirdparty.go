package eventauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Ed25519Verifier returns an Options.ThirdPartySigned that checks the
// signatures of a third-party invite's signed block with crypto/ed25519.
// canonical must turn a JSON object into its canonical form (appendices,
// "Canonical JSON"); the signed bytes are the canonical form of the block
// without its signatures and unsigned properties (appendices, "Signing
// JSON"). Only signatures under "ed25519:" key IDs are tried.
func Ed25519Verifier(canonical func(json.RawMessage) ([]byte, error)) func(signed json.RawMessage, publicKey string) bool {
	return func(signed json.RawMessage, publicKey string) bool {
		key, ok := decodeUnpaddedBase64(publicKey)
		if !ok || len(key) != ed25519.PublicKeySize {
			return false
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(signed, &obj) != nil {
			return false
		}
		var sigs map[string]map[string]string
		if json.Unmarshal(obj["signatures"], &sigs) != nil {
			return false
		}
		delete(obj, "signatures")
		delete(obj, "unsigned")
		stripped, err := json.Marshal(obj)
		if err != nil {
			return false
		}
		msg, err := canonical(stripped)
		if err != nil {
			return false
		}
		for _, byKey := range sigs {
			for keyID, sig := range byKey {
				if !strings.HasPrefix(keyID, "ed25519:") {
					continue
				}
				raw, ok := decodeUnpaddedBase64(sig)
				if ok && len(raw) == ed25519.SignatureSize && ed25519.Verify(key, msg, raw) {
					return true
				}
			}
		}
		return false
	}
}

// decodeUnpaddedBase64 accepts the standard and URL-safe alphabets, with
// or without padding (appendices, "Unpadded Base64": decoders should accept
// padding too).
func decodeUnpaddedBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}
