package canonicaljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fuzzSeeds = []string{
	`{}`, `{"one":1,"two":"Two"}`, `{"b":"2","a":"1"}`, `{"a":"日本語"}`, `{"本":2,"日":1}`,
	`{"a":"\u65E5"}`, `{"a":null}`, `{"a":-0,"b":1e10}`, `[1.5,-2e-7,1e400]`,
	`{"a":{"c":[1,2,{"e":"\ud83d\udc08"}],"b":true},"a":false}`, `"\u0000\/\\"`,
	"\"\xff\"", `{"\n":1,"\"":2}`, `9007199254740992`, `[[[[]]]]`,
}

// FuzzCanonicalize checks, for any input, that nothing panics and that
// whatever is accepted re-encodes to itself, is valid JSON without
// insignificant space, has strictly sorted keys, and decodes to the same
// value as the input.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		strict, strictErr := Canonicalize(data, Strict)
		lenient, lenientErr := Canonicalize(data, Lenient)
		if strictErr != nil && !errors.Is(strictErr, ErrInvalid) {
			t.Fatalf("strict error %v does not wrap ErrInvalid", strictErr)
		}
		if lenientErr != nil && !errors.Is(lenientErr, ErrInvalid) {
			t.Fatalf("lenient error %v does not wrap ErrInvalid", lenientErr)
		}
		if strictErr == nil {
			if lenientErr != nil {
				t.Fatalf("strict accepts %q but lenient refuses: %v", data, lenientErr)
			}
			if !bytes.Equal(strict, lenient) {
				t.Fatalf("modes disagree on %q: strict %q, lenient %q", data, strict, lenient)
			}
		}
		if lenientErr != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted %q, which encoding/json says is not JSON", data)
		}
		for _, m := range []Mode{Strict, Lenient} {
			if m == Strict && strictErr != nil {
				continue
			}
			again, err := Canonicalize(lenient, m)
			if err != nil || !bytes.Equal(again, lenient) {
				t.Fatalf("not stable in mode %d: %q -> %q -> %q, %v", m, data, lenient, again, err)
			}
		}
		checkCanonicalShape(t, lenient)
		if strictErr == nil {
			var a, b any
			if err := json.Unmarshal(data, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(strict, &b); err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(a, b) {
				t.Fatalf("value changed: %q -> %q", data, strict)
			}
		}
	})
}

// checkCanonicalShape verifies, with encoding/json as an independent
// reader, that out has no insignificant space and strictly sorted keys.
func checkCanonicalShape(t *testing.T, out []byte) {
	t.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, out); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if !bytes.Equal(compact.Bytes(), out) {
		t.Fatalf("output %q has insignificant space", out)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	type frame struct {
		object  bool
		wantKey bool
		last    *string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.last != nil && *top.last >= k {
				t.Fatalf("output %q: key %q not after %q", out, k, *top.last)
			}
			top.last, top.wantKey = &k, false
			continue
		}
		if top != nil && top.object {
			top.wantKey = true
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			case ']', '}':
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// FuzzScan checks that Members, Elements and Unquote never panic and that
// Unquote agrees with AppendString.
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Members(data, func(k, v []byte) error {
			_, _ = Unquote(v)
			return Elements(v, func([]byte) error { return nil })
		})
		s, err := Unquote(data)
		if err != nil {
			return
		}
		back, err := Unquote(AppendString(nil, s))
		if err != nil || back != s {
			t.Fatalf("Unquote(AppendString(%q)) = %q, %v", s, back, err)
		}
	})
}
