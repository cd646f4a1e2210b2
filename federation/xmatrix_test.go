package federation

import (
	"errors"
	"testing"

	"hearth.dev/hearth/core/signing"
)

// The appendix's signing key (ed25519:1), and signatures computed for the
// spec's request shape by python3-signedjson, independently of our code.
const appendixSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

var requestVectors = []struct {
	method, uri string
	content     string
	sig         string
}{
	{"GET", "/_matrix/federation/v1/version", "", "Mb8+kifPyx8HNTRgyZl7sVpc0vYZlRn6znNGD0C4mQqUlUIMKKlIt2pu5xuljDwPrHIhLUPBwkVXZoBWdVu6Bg"},
	{"PUT", "/_matrix/federation/v1/send/1404838188000?x=%20y",
		`{"origin":"origin.hs.example.com","origin_server_ts":1404838188000,"pdus":[],` +
			`"edus":[{"edu_type":"m.typing","content":{"room_id":"!r:origin.hs.example.com","user_id":"@a:origin.hs.example.com","typing":true}}]}`,
		"pbx+DPR1iEIiCH7WrskAGZwxunpeuQb+Co6BNSFJA/OHU8CWCR1kTNUhIX424rsYblHtJOyNtDQDwJPGyhAwDA"},
}

func appendixKey(t testing.TB) signing.Key {
	t.Helper()
	seed, err := signing.DecodeBase64(appendixSeed)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.KeyFromSeed("ed25519:1", seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignRequestVectors(t *testing.T) {
	key := appendixKey(t)
	for _, v := range requestVectors {
		var content []byte
		if v.content != "" {
			content = []byte(v.content)
		}
		x, err := SignRequest("origin.hs.example.com", "destination.hs.example.com", key, v.method, v.uri, content)
		if err != nil {
			t.Fatal(err)
		}
		if x.Sig != v.sig {
			t.Errorf("SignRequest(%s %s) sig = %s, want %s", v.method, v.uri, x.Sig, v.sig)
		}
		want := `X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:1",sig="` + v.sig + `"`
		if x.String() != want {
			t.Errorf("header = %s\nwant     %s", x, want)
		}
		parsed, err := ParseXMatrix(x.String())
		if err != nil || parsed != x {
			t.Fatalf("ParseXMatrix(String()) = %+v, %v", parsed, err)
		}
		if err := VerifyRequest(x, "destination.hs.example.com", key.Public(), v.method, v.uri, content); err != nil {
			t.Errorf("VerifyRequest: %v", err)
		}
		// Any change to what is signed breaks the signature.
		bad := []struct {
			name                   string
			dest, method, uri, org string
			content                []byte
		}{
			{"destination", "other.example", v.method, v.uri, x.Origin, content},
			{"method", "destination.hs.example.com", "POST", v.uri, x.Origin, content},
			{"uri", "destination.hs.example.com", v.method, v.uri + "x", x.Origin, content},
			{"origin", "destination.hs.example.com", v.method, v.uri, "evil.example", content},
			{"content", "destination.hs.example.com", v.method, v.uri, x.Origin, []byte(`{"a":1}`)},
		}
		for _, b := range bad {
			xb := x
			xb.Origin = b.org
			if err := VerifyRequest(xb, b.dest, key.Public(), b.method, b.uri, b.content); err == nil {
				t.Errorf("%s %s: a changed %s still verifies", v.method, v.uri, b.name)
			}
		}
	}
}

func TestParseXMatrix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want XMatrix
	}{
		{`X-Matrix origin=origin.example,key="ed25519:k",sig="c2ln"`, XMatrix{Origin: "origin.example", Key: "ed25519:k", Sig: "c2ln"}},
		// Scheme and names in any case, spaces and tabs around commas,
		// unquoted values with colons, unknown parameters ignored.
		{"x-matrix   ORIGIN=\"a.example:8448\" ,\tDestination=b.example:1 , key=ed25519:k,sig=abc+/,extra=\"x\"",
			XMatrix{Origin: "a.example:8448", Destination: "b.example:1", Key: "ed25519:k", Sig: "abc+/"}},
		// Backslash escapes in quoted values.
		{`X-Matrix origin="a\"b",key="k\\",sig="s"`, XMatrix{Origin: `a"b`, Key: `k\`, Sig: "s"}},
	} {
		got, err := ParseXMatrix(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseXMatrix(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		``, `X-Matrix`, `Bearer origin=a,key=k,sig=s`, `X-Matrixorigin=a,key=k,sig=s`,
		`X-Matrix origin=a,key=k`, `X-Matrix origin=a,origin=b,key=k,sig=s`, `X-Matrix origin="a,key=k,sig=s`,
		`X-Matrix origin=a key=k,sig=s`, `X-Matrix origin=,key=k,sig=s`, `X-Matrix =a,key=k,sig=s`,
	} {
		if x, err := ParseXMatrix(in); !errors.Is(err, ErrBadAuthorization) {
			t.Errorf("ParseXMatrix(%q) = %+v, %v; want ErrBadAuthorization", in, x, err)
		}
	}
}

// FuzzParseXMatrix: the parser never panics, and what it accepts formats
// back to a header that parses to the same values.
func FuzzParseXMatrix(f *testing.F) {
	f.Add(`X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:1",sig="ABCDEF"`)
	f.Add(`x-matrix origin=a:1 , key=k,sig=s,x="\"y"`)
	f.Add(`X-Matrix origin="a\\",key="k",sig="s"`)
	f.Fuzz(func(t *testing.T, h string) {
		x, err := ParseXMatrix(h)
		if err != nil {
			return
		}
		if x.Origin == "" || x.Key == "" || x.Sig == "" {
			t.Fatalf("accepted %q without a required value: %+v", h, x)
		}
		y, err := ParseXMatrix(x.String())
		if err != nil || y != x {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", h, y, err, x)
		}
	})
}
