package relay

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"hearth.dev/hearth/core/signing"
)

// NewHello answers a challenge: the hello frame in which key, the node's
// server signing key, signs the relay's nonce bound to name.
func NewHello(ch *Frame, name string, key signing.Key, token string) (*Frame, error) {
	if ch.Type != TypeChallenge {
		return nil, fmt.Errorf("%w: expected a challenge, got %s", ErrBadFrame, ch.Type)
	}
	if ch.Version < Version {
		return nil, fmt.Errorf("relay: the relay speaks version %d, this node needs %d", ch.Version, Version)
	}
	return &Frame{
		Type: TypeHello, Version: Version, Name: name, KeyID: key.ID, Key: key.Public(), Token: token,
		Sig: ed25519.Sign(key.Private, challengeText(name, key.ID, ch.Nonce)),
	}, nil
}

// ErrBadSignature is returned by VerifyHello when the signature does not
// verify.
var ErrBadSignature = errors.New("relay: the hello's signature does not verify")

// VerifyHello checks that hello's signature over nonce was made by the
// private half of hello.Key. Whether that key may claim hello.Name is the
// relay's decision.
func VerifyHello(hello *Frame, nonce []byte) error {
	if hello.Type != TypeHello {
		return fmt.Errorf("%w: expected a hello, got %s", ErrBadFrame, hello.Type)
	}
	if err := signing.CheckKeyID(hello.KeyID); err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if len(hello.Key) != ed25519.PublicKeySize ||
		!ed25519.Verify(ed25519.PublicKey(hello.Key), challengeText(hello.Name, hello.KeyID, nonce), hello.Sig) {
		return ErrBadSignature
	}
	return nil
}
