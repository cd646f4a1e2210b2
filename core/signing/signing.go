// Package signing signs and verifies JSON objects and events with ed25519
// server keys, following the specification's "Signing JSON" appendix and
// the server-server API's "Signing Events": server keys with IDs
// "ed25519:<version>", public keys and signatures in unpadded base64,
// signatures over canonical JSON without "signatures" and "unsigned", and
// event signatures over the redacted event after its content hash is set.
//
// Keys are looked up through a function (KeyLookup), so the package does no
// I/O. Importing it has no side effects.
package signing

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Errors returned by this package.
var (
	// ErrKeyNotFound is what a KeyLookup returns, wrapped, for a key it does
	// not know or that was not valid at the time asked about. Signatures
	// by such keys are skipped.
	ErrKeyNotFound = errors.New("signing key not found")
	// ErrMissingSignature: a server that must have signed did not, or only
	// with keys that could not be found.
	ErrMissingSignature = errors.New("missing signature")
	// ErrBadSignature: a signature is not valid base64 or does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrInvalidKeyID: a key ID is not "ed25519:" followed by [a-zA-Z0-9_].
	ErrInvalidKeyID = errors.New("invalid key ID")
)

// EncodeBase64 encodes b as unpadded standard base64, the encoding of all
// binary values in Matrix JSON.
func EncodeBase64(b []byte) string {
	return base64.RawStdEncoding.EncodeToString(b)
}

// DecodeBase64 decodes unpadded base64, accepting padding and the URL-safe
// alphabet as well, as the specification asks decoders to be lenient.
func DecodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
