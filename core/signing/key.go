package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
)

// Key is a server's ed25519 signing key with its key ID.
type Key struct {
	ID      string // "ed25519:<version>"
	Private ed25519.PrivateKey
}

// GenerateKey makes a new key with ID "ed25519:" + version, from
// crypto/rand. version must match [a-zA-Z0-9_]+.
func GenerateKey(version string) (Key, error) {
	id := "ed25519:" + version
	if err := CheckKeyID(id); err != nil {
		return Key{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("signing: generate key: %w", err)
	}
	return Key{ID: id, Private: priv}, nil
}

// KeyFromSeed rebuilds a key from its 32-byte seed (the form in which keys
// are stored).
func KeyFromSeed(keyID string, seed []byte) (Key, error) {
	if err := CheckKeyID(keyID); err != nil {
		return Key{}, err
	}
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("signing: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return Key{ID: keyID, Private: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the 32-byte seed the key can be rebuilt from.
func (k Key) Seed() []byte { return k.Private.Seed() }

// Public returns the public half of the key.
func (k Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// PublicBase64 returns the public key as unpadded base64, as published in
// /_matrix/key/v2/server.
func (k Key) PublicBase64() string { return EncodeBase64(k.Public()) }

// Version returns the part of the key ID after "ed25519:".
func (k Key) Version() string { return strings.TrimPrefix(k.ID, "ed25519:") }

// CheckKeyID checks that id is "ed25519:" followed by one or more of
// [a-zA-Z0-9_], the only key IDs this server makes or verifies with.
func CheckKeyID(id string) error {
	version, ok := strings.CutPrefix(id, "ed25519:")
	if !ok || version == "" {
		return fmt.Errorf("%q: %w", id, ErrInvalidKeyID)
	}
	for i := 0; i < len(version); i++ {
		c := version[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("%q: %w", id, ErrInvalidKeyID)
		}
	}
	return nil
}

// DecodePublicKey decodes a base64 ed25519 public key.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := DecodeBase64(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("signing: %q is not a base64 ed25519 public key", s)
	}
	return ed25519.PublicKey(b), nil
}
