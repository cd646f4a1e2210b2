package relay

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The codec is held to fxamacker/cbor, configured as the relay used it
// before it had its own codec: core deterministic encoding, and a decoder
// refusing duplicate keys, indefinite lengths, tags, invalid UTF-8, more
// than 4 levels and more than maxHeaderFields elements.
var (
	libEnc, _ = cbor.CoreDetEncOptions().EncMode()
	libDec, _ = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  4,
		MaxArrayElements: maxHeaderFields,
		MaxMapPairs:      maxHeaderFields,
		IntDec:           cbor.IntDecConvertNone,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
)

// codecFrames are frames of every type with every field, empty and
// not, numbers at the edges of each head size.
func codecFrames() []*Frame {
	out := []*Frame{
		{},
		{Type: TypePing},
		{Type: 255, ID: 1<<64 - 1, Status: -1 << 40, Version: 1<<31 + 5, Queued: 65536},
		{Type: TypeRequest, ID: 23, Method: "PUT", Target: "/_matrix/federation/v1/send/1", Host: "a.relay.test",
			Header: map[string][]string{"Authorization": {"X-Matrix a"}, "B": nil, "Aa": {}, "Ab": {"1", ""}, "X-Long-Header-Name-Over-24": {"é"}},
			Body:   bytes.Repeat([]byte{0xff}, 300)},
		{Type: TypeResponse, ID: 24, Status: 255, Body: []byte{0}, More: true},
		{Type: TypeHello, Version: 1, Name: "alice.relay.test", KeyID: "ed25519:a", Key: make([]byte, 32), Sig: make([]byte, 64), Token: "tok", Nonce: make([]byte, 16)},
		{Type: TypeAck, Name: "n", Queued: 256, Reason: "ok"},
	}
	for _, n := range []int{-65537, -65536, -257, -256, -25, -24, -1, 0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32} {
		out = append(out, &Frame{Type: TypeError, Status: n, Version: n, Queued: n, ID: uint64(max(n, 0))})
	}
	return out
}

func TestCodecEncodesAsTheLibrary(t *testing.T) {
	for _, f := range codecFrames() {
		want, err := libEnc.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFrame(nil, f); !bytes.Equal(got, want) {
			t.Errorf("appendFrame(%+v) =\n%x, the library gives\n%x", f, got, want)
		}
	}
}

// sameDecode checks that the codec and the library agree on b: both
// refuse it, or both give the same frame.
func sameDecode(t *testing.T, b []byte) {
	t.Helper()
	var want Frame
	libErr := libDec.Unmarshal(b, &want)
	got, err := decodeFrame(b)
	switch {
	case err != nil && libErr != nil:
	case err != nil:
		t.Fatalf("decodeFrame(%x) refused what the library takes (%+v): %v", b, want, err)
	case libErr != nil:
		t.Fatalf("decodeFrame(%x) = %+v, the library refuses it: %v", b, got, libErr)
	default:
		if diff := cmp.Diff(&want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("decodeFrame(%x) differs from the library (-lib +codec):\n%s", b, diff)
		}
	}
}

func TestCodecDecodesAsTheLibrary(t *testing.T) {
	for _, f := range codecFrames() {
		sameDecode(t, appendFrame(nil, f))
	}
	for _, b := range codecSeeds {
		sameDecode(t, b)
	}
}

// codecSeeds are encodings the codec never makes: long forms, null,
// unknown keys of every kind, nesting, and what must be refused.
var codecSeeds = [][]byte{
	{0xa1, 0x01, 0x0e},                                     // {1: 14}
	{0xa2, 0x01, 0x0e, 0x61, 0x31, 0x0f},                   // {1: 14, "1": 15}
	{0xa2, 0x01, 0x0e, 0x64, 0x54, 0x79, 0x70, 0x65, 0x0f}, // {1: 14, "Type": 15}
	{0xa2, 0x01, 0x0e, 0x61, 0xff, 0x0f},                   // a key not UTF-8
	{0xa1, 0x18, 0x01, 0x0e},                               // {1 in two bytes: 14}
	{0xa1, 0x01, 0x19, 0x00, 0x0e},                         // {1: 14 in three bytes}
	{0xa2, 0x01, 0x0e, 0x02, 0xf6},                         // id null
	{0xa2, 0x01, 0x0e, 0x02, 0xf7},                         // id undefined
	{0xa2, 0x01, 0x0e, 0x06, 0xa1, 0x61, 0x41, 0xf6},       // header {"A": null}
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0x82, 0x01, 0x02},       // unknown key 99: [1, 2]
	{0xa2, 0x01, 0x0e, 0x20, 0x01},                         // unknown key -1
	{0xa2, 0x01, 0x0e, 0x41, 0x00, 0x01},                   // unknown byte-string key
	{0xa2, 0x01, 0x0e, 0xf5, 0x01},                         // unknown key true
	{0xa3, 0x01, 0x0e, 0x18, 0x63, 0x01, 0x18, 0x63, 0x02}, // unknown key twice
	{0xa3, 0x01, 0x0e, 0x18, 0x63, 0x01, 0x19, 0x00, 0x63, 0x02},
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0x81, 0x81, 0x81, 0x01},                         // nested 4 deep
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0x81, 0x81, 0x81, 0x81, 0x01},                   // nested 5 deep
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0xc1, 0x01},                                     // a tag
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0x61, 0xff},                                     // invalid UTF-8
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0xf8, 0x10},                                     // simple value in two bytes
	{0xa2, 0x01, 0x0e, 0x18, 0x63, 0xf9, 0x3c, 0x00},                               // a float
	{0xa2, 0x01, 0x0e, 0x07, 0xf9, 0x3c, 0x00},                                     // status a float
	{0xa2, 0x01, 0x0e, 0x03, 0x41, 0x41},                                           // method a byte string
	{0xa2, 0x01, 0x0e, 0x08, 0x61, 0x41},                                           // body a text string
	{0xa2, 0x01, 0x0e, 0x09, 0x01},                                                 // more an integer
	{0xa1, 0x01, 0x19, 0x01, 0x00},                                                 // type 256
	{0xa1, 0x01, 0x20},                                                             // type -1
	{0xa1, 0x01, 0x0e, 0x00},                                                       // a byte after the frame
	{0xa1, 0x01},                                                                   // cut short
	{0x81, 0x0e},                                                                   // an array
	{0xf6},                                                                         // null
	{0xa2, 0x01, 0x0e, 0x07, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // status -2^63
	{0xa2, 0x01, 0x0e, 0x07, 0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0},                      // status -2^63-1
	{0xa2, 0x01, 0x0e, 0x07, 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0},                      // status 2^63
}

// FuzzCodec: on any input the codec and the library agree (refuse both,
// or give the same frame), and Decode's errors wrap ErrBadFrame.
func FuzzCodec(f *testing.F) {
	for _, fr := range codecFrames() {
		f.Add(appendFrame(nil, fr))
	}
	for _, b := range codecSeeds {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameDecode(t, b)
		if _, err := Decode(b); err != nil && !errors.Is(err, ErrBadFrame) {
			t.Fatalf("Decode error %v does not wrap ErrBadFrame", err)
		}
	})
}
