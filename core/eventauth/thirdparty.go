package eventauth

import (
	"encoding/json"

	"hearth.dev/hearth/core/signing"
)

// verifyThirdPartySigned is the default Options.ThirdPartySigned: any
// ed25519 signature in signed, by any signer, that verifies with publicKey
// over the canonical JSON of signed without its signatures and unsigned
// properties.
func verifyThirdPartySigned(signed json.RawMessage, publicKey string) bool {
	pub, err := signing.DecodePublicKey(publicKey)
	if err != nil {
		return false
	}
	return signing.VerifyAnySignature(signed, pub) == nil
}
