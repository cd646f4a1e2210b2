package relay

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"hearth.dev/hearth/core/signing"
)

func TestFrameRoundTrip(t *testing.T) {
	frames := []*Frame{
		{Type: TypeChallenge, Version: 1, Nonce: bytes.Repeat([]byte{7}, 32)},
		{Type: TypeHello, Version: 1, Name: "alice.relay.test", KeyID: "ed25519:a", Key: make([]byte, 32), Sig: make([]byte, 64), Token: "tok"},
		{Type: TypeAck, Name: "alice.relay.test", Queued: 3},
		{Type: TypeError, Reason: "no"},
		{Type: TypeRequest, ID: 2, Method: "PUT", Target: "/_matrix/federation/v1/send/1?x=y", Host: "alice.relay.test",
			Header: map[string][]string{"Authorization": {`X-Matrix origin="a",key="ed25519:1",sig="s"`}}, Body: []byte(`{"pdus":[]}`)},
		{Type: TypeResponse, ID: 3, Status: 200, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: []byte("{}"), More: true},
		{Type: TypeChunk, ID: 3, Body: bytes.Repeat([]byte("x"), ChunkSize)},
		{Type: TypeCancel, ID: 4, Reason: "timeout"},
		{Type: TypePing},
		{Type: TypePong},
	}
	for _, f := range frames {
		b, err := Encode(f)
		if err != nil {
			t.Fatalf("Encode(%s): %v", f.Type, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%s)): %v", f.Type, err)
		}
		if diff := cmp.Diff(f, got); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", f.Type, diff)
		}
	}
}

func TestFrameLimits(t *testing.T) {
	tooMany := map[string][]string{}
	for i := 0; i < maxHeaderFields+1; i++ {
		tooMany["X-H"+strings.Repeat("a", i%30)+string(rune('a'+i%26))+string(rune('a'+i/26))] = []string{"v"}
	}
	bad := []struct {
		name string
		f    Frame
	}{
		{"unknown type", Frame{Type: 99}},
		{"body over a chunk", Frame{Type: TypeChunk, ID: 1, Body: make([]byte, ChunkSize+1)}},
		{"request without id", Frame{Type: TypeRequest, Method: "GET", Target: "/"}},
		{"request target without slash", Frame{Type: TypeRequest, ID: 1, Method: "GET", Target: "http://evil/"}},
		{"method not a token", Frame{Type: TypeRequest, ID: 1, Method: "GE T", Target: "/"}},
		{"host with a path", Frame{Type: TypeRequest, ID: 1, Method: "GET", Target: "/", Host: "a/b"}},
		{"header value with newline", Frame{Type: TypeRequest, ID: 1, Method: "GET", Target: "/", Header: map[string][]string{"X": {"a\r\nb"}}}},
		{"header name not a token", Frame{Type: TypeRequest, ID: 1, Method: "GET", Target: "/", Header: map[string][]string{"X Y": {"a"}}}},
		{"too many header values", Frame{Type: TypeRequest, ID: 1, Method: "GET", Target: "/", Header: tooMany}},
		{"response status", Frame{Type: TypeResponse, ID: 1, Status: 700}},
		{"short nonce", Frame{Type: TypeChallenge, Version: 1, Nonce: []byte{1}}},
		{"hello without sig", Frame{Type: TypeHello, Version: 1, Name: "a", KeyID: "ed25519:a", Key: make([]byte, 32)}},
		{"cancel without id", Frame{Type: TypeCancel}},
	}
	for _, tc := range bad {
		if _, err := Encode(&tc.f); !errors.Is(err, ErrBadFrame) {
			t.Errorf("Encode(%s) = %v, want ErrBadFrame", tc.name, err)
		}
		// The decoder refuses the same frame however it was made.
		raw, err := cbor.Marshal(&tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(raw); !errors.Is(err, ErrBadFrame) {
			t.Errorf("Decode(%s) = %v, want ErrBadFrame", tc.name, err)
		}
	}
	if _, err := Decode(make([]byte, MaxFrameSize+1)); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Decode(oversized) = %v, want ErrBadFrame", err)
	}
	// Duplicate keys and indefinite lengths are refused.
	dup := []byte{0xa2, 0x01, 0x0e, 0x01, 0x0f} // {1: 14, 1: 15}
	if _, err := Decode(dup); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Decode(duplicate key) = %v, want ErrBadFrame", err)
	}
	indef := []byte{0xbf, 0x01, 0x0e, 0xff} // {_ 1: 14}
	if _, err := Decode(indef); !errors.Is(err, ErrBadFrame) {
		t.Errorf("Decode(indefinite map) = %v, want ErrBadFrame", err)
	}
	// Unknown keys are ignored (later versions may add fields).
	extra := []byte{0xa2, 0x01, 0x0e, 0x18, 0x63, 0x01} // {1: 14, 99: 1}
	if f, err := Decode(extra); err != nil || f.Type != TypePing {
		t.Errorf("Decode(unknown key) = %v, %v; want a ping", f, err)
	}
}

func TestHelloSignature(t *testing.T) {
	key, err := signing.GenerateKey("a1")
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{9}, 32)
	hello, err := NewHello(&Frame{Type: TypeChallenge, Version: 1, Nonce: nonce}, "alice.relay.test", key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyHello(hello, nonce); err != nil {
		t.Fatalf("VerifyHello: %v", err)
	}
	other := bytes.Repeat([]byte{8}, 32)
	if err := VerifyHello(hello, other); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyHello(other nonce) = %v, want ErrBadSignature", err)
	}
	renamed := *hello
	renamed.Name = "bob.relay.test"
	if err := VerifyHello(&renamed, nonce); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyHello(other name) = %v, want ErrBadSignature", err)
	}
	if _, err := NewHello(&Frame{Type: TypeChallenge, Version: 0, Nonce: nonce}, "a", key, ""); err == nil {
		t.Error("NewHello accepted a relay of version 0")
	}
}

// FuzzDecode: the decoder never panics, and whatever it accepts encodes
// and decodes again to the same frame.
func FuzzDecode(f *testing.F) {
	for _, fr := range []*Frame{
		{Type: TypePing},
		{Type: TypeRequest, ID: 2, Method: "GET", Target: "/_matrix/key/v2/server", Host: "a.relay.test", Header: map[string][]string{"Accept": {"*/*"}}},
		{Type: TypeResponse, ID: 2, Status: 200, Body: []byte("{}"), More: true},
		{Type: TypeHello, Version: 1, Name: "a", KeyID: "ed25519:a", Key: make([]byte, 32), Sig: make([]byte, 64)},
	} {
		b, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa2, 0x01, 0x0e, 0x01, 0x0f})
	f.Add([]byte{0xbf, 0x01, 0x0e, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("Decode error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		again, err := Encode(fr)
		if err != nil {
			t.Fatalf("Encode of a decoded frame: %v", err)
		}
		fr2, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode of a re-encoded frame: %v", err)
		}
		if diff := cmp.Diff(fr, fr2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("re-encoding changed the frame:\n%s", diff)
		}
	})
}
