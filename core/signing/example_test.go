package signing_test

import (
	"fmt"

	"hearth.dev/hearth/core/signing"
)

// The key and expected signature are the specification's test vector.
func ExampleSignJSON() {
	seed, _ := signing.DecodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
	key, _ := signing.KeyFromSeed("ed25519:1", seed)
	signed, err := signing.SignJSON([]byte(`{"one": 1, "two": "Two"}`), "domain", key.ID, key.Private)
	fmt.Println(string(signed), err)
	fmt.Println(signing.VerifyJSON(signed, "domain", key.ID, key.Public()))
	// Output:
	// {"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"} <nil>
	// <nil>
}
