package canonicaljson_test

import (
	"errors"
	"fmt"

	"hearth.dev/hearth/core/canonicaljson"
)

func ExampleCanonicalize() {
	out, err := canonicaljson.Canonicalize([]byte(`{"本": 2, "日": 1, "a": "\u65E5\n"}`), canonicaljson.Strict)
	fmt.Println(string(out), err)

	_, err = canonicaljson.Canonicalize([]byte(`{"level": 50.5}`), canonicaljson.Strict)
	fmt.Println(errors.Is(err, canonicaljson.ErrInvalid))

	out, _ = canonicaljson.Canonicalize([]byte(`{"b": 50.0, "a": 1e10}`), canonicaljson.Lenient)
	fmt.Println(string(out))
	// Output:
	// {"a":"日\n","日":1,"本":2} <nil>
	// true
	// {"a":1e10,"b":50.0}
}
