package signing

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"hearth.dev/hearth/core/canonicaljson"
)

func TestKeys(t *testing.T) {
	for _, bad := range []string{"", "a-b", "a b", "é", "a:b"} {
		if _, err := GenerateKey(bad); !errors.Is(err, ErrInvalidKeyID) {
			t.Errorf("GenerateKey(%q) = %v, want ErrInvalidKeyID", bad, err)
		}
	}
	k, err := GenerateKey("a_Z9")
	if err != nil || k.ID != "ed25519:a_Z9" || k.Version() != "a_Z9" {
		t.Fatalf("GenerateKey = %+v, %v", k, err)
	}
	again, err := KeyFromSeed(k.ID, k.Seed())
	if err != nil || !again.Private.Equal(k.Private) {
		t.Errorf("KeyFromSeed(Seed()) = %v", err)
	}
	if _, err := KeyFromSeed(k.ID, k.Seed()[:31]); err == nil {
		t.Error("KeyFromSeed with 31 bytes succeeded")
	}
	if _, err := KeyFromSeed("rsa:1", k.Seed()); !errors.Is(err, ErrInvalidKeyID) {
		t.Errorf("KeyFromSeed(rsa:1) = %v", err)
	}
	pub, err := DecodePublicKey(k.PublicBase64())
	if err != nil || !pub.Equal(k.Public()) || strings.HasSuffix(k.PublicBase64(), "=") {
		t.Errorf("DecodePublicKey(PublicBase64()) = %v, %v", pub, err)
	}
	for _, bad := range []string{"", "AAAA", "!!!!", strings.Repeat("A", 44)} {
		if _, err := DecodePublicKey(bad); err == nil {
			t.Errorf("DecodePublicKey(%q) succeeded", bad)
		}
	}
	// URL-safe and padded forms decode too.
	raw := []byte{0xfb, 0xff, 0xfe}
	for _, s := range []string{"+//+", "-__-", "+//+", "+/8="[:4]} {
		if _, err := DecodeBase64(s); err != nil {
			t.Errorf("DecodeBase64(%q) = %v", s, err)
		}
	}
	if got, _ := DecodeBase64("-__-"); string(got) != string(raw) {
		t.Errorf("DecodeBase64(-__-) = %x, want %x", got, raw)
	}
}

func TestSignJSONKeepsOthers(t *testing.T) {
	a, b := newServer(t, "a.example"), newServer(t, "b.example")
	in := `{"z":1,"unsigned":{"age":5},"signatures":{"c.example":{"ed25519:x":"sig"}},"a":"x"}`
	out, err := SignJSON([]byte(in), a.name, a.key.ID, a.key.Private)
	if err != nil {
		t.Fatal(err)
	}
	out, err = SignJSON(out, b.name, b.key.ID, b.key.Private)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"unsigned":{"age":5}`, `"c.example":{"ed25519:x":"sig"}`, `"a.example":{"ed25519:test":`, `"b.example":{"ed25519:test":`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("signed JSON %s lacks %s", out, want)
		}
	}
	if c, _ := canonicaljson.Canonicalize(out, canonicaljson.Strict); string(c) != string(out) {
		t.Errorf("SignJSON output is not canonical: %s", out)
	}
	for _, s := range []testServer{a, b} {
		if err := VerifyJSON(out, s.name, s.key.ID, s.key.Public()); err != nil {
			t.Errorf("VerifyJSON(%s) = %v", s.name, err)
		}
	}
	// unsigned may change freely; other keys may not.
	changed := strings.Replace(string(out), `"age":5`, `"age":6`, 1)
	if err := VerifyJSON([]byte(changed), a.name, a.key.ID, a.key.Public()); err != nil {
		t.Errorf("VerifyJSON after changing unsigned = %v", err)
	}
	changed = strings.Replace(string(out), `"z":1`, `"z":2`, 1)
	if err := VerifyJSON([]byte(changed), a.name, a.key.ID, a.key.Public()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyJSON after changing z = %v", err)
	}
	if err := VerifyJSON(out, "d.example", a.key.ID, a.key.Public()); !errors.Is(err, ErrMissingSignature) {
		t.Errorf("VerifyJSON for an absent signer = %v", err)
	}
	if err := VerifyJSON(out, a.name, a.key.ID, b.key.Public()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyJSON with the wrong key = %v", err)
	}
	for _, bad := range []string{`[]`, `{"signatures":[]}`, `{"signatures":{"a":1}}`, `{"x":1.5}`} {
		if _, err := SignJSON([]byte(bad), a.name, a.key.ID, a.key.Private); err == nil {
			t.Errorf("SignJSON(%s) succeeded", bad)
		}
	}
}

func FuzzVerifyJSON(f *testing.F) {
	k, _ := KeyFromSeed("ed25519:1", make([]byte, 32))
	signed, _ := SignJSON([]byte(`{"a":[1,{"b":null}]}`), "s", k.ID, k.Private)
	f.Add(signed)
	f.Add([]byte(`{"signatures":{"s":{"ed25519:1":"AAAA"}}}`))
	pub := k.Public()
	f.Fuzz(func(t *testing.T, data []byte) {
		err := VerifyJSON(data, "s", "ed25519:1", pub)
		_ = VerifyAnySignature(data, pub)
		if err == nil {
			// Whatever verifies must re-verify after re-signing as canonical.
			o, perr := parseObject(data, canonicaljson.Lenient)
			if perr != nil || !ed25519.Verify(pub, o.signedBytes(), mustSig(t, o)) {
				t.Fatalf("VerifyJSON accepted %q but the signature does not check", data)
			}
		}
	})
}

func mustSig(t *testing.T, o *object) []byte {
	sigs, err := signaturesOf(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeBase64(sigs["s"]["ed25519:1"])
	if err != nil {
		t.Fatal(err)
	}
	return b
}
