package signing

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/roomversion"
)

// vectors are the "Cryptographic Test Vectors" of the specification's
// appendix, read from a verbatim copy in testdata.
type vectors struct {
	seed, server, keyID string
	pairs               [][2]string // input, expected output
	base64              [][2]string
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/appendix-test-vectors.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	one := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(md)
		if m == nil {
			t.Fatalf("%s not found in the test vectors", re)
		}
		return m[1]
	}
	v := vectors{
		seed:   one(`SIGNING_KEY_SEED = decode_base64\(\s*"([^"]+)"`),
		server: one(`SERVER_NAME = "([^"]+)"`),
		keyID:  one(`KEY_ID = "([^"]+)"`),
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(md, -1)
	for i := 0; i+1 < len(blocks); i += 2 {
		v.pairs = append(v.pairs, [2]string{blocks[i][1], blocks[i+1][1]})
	}
	for _, m := range regexp.MustCompile(`UNPADDED_BASE64\("([^"]*)"\) = "([^"]*)"`).FindAllStringSubmatch(md, -1) {
		v.base64 = append(v.base64, [2]string{m[1], m[2]})
	}
	if len(v.pairs) != 4 || len(v.base64) != 7 {
		t.Fatalf("found %d signing vectors and %d base64 examples, want 4 and 7", len(v.pairs), len(v.base64))
	}
	return v
}

func (v vectors) key(t *testing.T) Key {
	t.Helper()
	seed, err := DecodeBase64(v.seed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := KeyFromSeed(v.keyID, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func canonical(t *testing.T, s string) string {
	t.Helper()
	c, err := canonicaljson.Canonicalize([]byte(s), canonicaljson.Strict)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

func TestUnpaddedBase64Examples(t *testing.T) {
	for _, ex := range loadVectors(t).base64 {
		if got := EncodeBase64([]byte(ex[0])); got != ex[1] {
			t.Errorf("EncodeBase64(%q) = %q, want %q", ex[0], got, ex[1])
		}
		for _, in := range []string{ex[1], ex[1] + strings.Repeat("=", (4-len(ex[1])%4)%4)} {
			if got, err := DecodeBase64(in); err != nil || string(got) != ex[0] {
				t.Errorf("DecodeBase64(%q) = %q, %v; want %q", in, got, err, ex[0])
			}
		}
	}
}

// TestJSONSigningVectors: the first two vectors sign plain JSON objects.
func TestJSONSigningVectors(t *testing.T) {
	v := loadVectors(t)
	k := v.key(t)
	for _, p := range v.pairs[:2] {
		got, err := SignJSON([]byte(p[0]), v.server, v.keyID, k.Private)
		if err != nil {
			t.Fatal(err)
		}
		if want := canonical(t, p[1]); string(got) != want {
			t.Errorf("SignJSON(%s):\n got %s\nwant %s", p[0], got, want)
		}
		if err := VerifyJSON([]byte(p[1]), v.server, v.keyID, k.Public()); err != nil {
			t.Errorf("VerifyJSON of the expected output: %v", err)
		}
	}
}

// TestEventSigningVectors: the last two vectors sign events. They were
// made with the redaction rules of room versions 1 to 10, which keep the
// top-level "origin" key; from version 11 on it is redacted, so the
// signature differs.
func TestEventSigningVectors(t *testing.T) {
	v := loadVectors(t)
	k := v.key(t)
	for n := 1; n <= 12; n++ {
		rv, _ := roomversion.Lookup(roomversion.ID(fmt.Sprint(n)))
		for _, p := range v.pairs[2:] {
			got, err := SignEventJSON(rv, []byte(p[0]), v.server, v.keyID, k.Private)
			if err != nil {
				t.Fatalf("v%d: %v", n, err)
			}
			want := canonical(t, p[1])
			if match := string(got) == want; match != (n <= 10) {
				t.Errorf("v%d: SignEventJSON(%s) matches the vector: %v\n got %s\nwant %s", n, p[0], match, got, want)
			}
		}
	}
}
