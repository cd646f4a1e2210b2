package signing

import (
	"encoding/json"
	"testing"

	"hearth.dev/hearth/core/pdu"
)

// benchEvent is a typical m.room.message event of room version 12.
func benchEvent(b *testing.B) (*pdu.PDU, testServer) {
	v := lookupVersion(b, "12")
	s := newServer(b, "example.org")
	p := event(v, "@alice:example.org", "m.room.message",
		`{"body":"Hello, world! How is everyone doing today?","msgtype":"m.text","format":"org.matrix.custom.html",`+
			`"formatted_body":"<p>Hello, <b>world</b>!</p>","m.mentions":{"user_ids":["@bob:example.org"]}}`)
	p.AuthEvents = []string{"$gCzdJUVV93Qory0x7p_PLG5UUiDjPJNe1H12qbHTuFA", "$hyeL_nU_L3tsZ2dtZZpAHk0Skv-PqFQIipuII_By584", "$accqGxfvhBvMP4Sf6P7t3WgnaJK6UbonO2ZmwqSE5Sg"}
	p.PrevEvents = []string{"$xmP-wZfpannuHG-Akogi6c4YvqxChMtdyYbUMGOrMWc"}
	p.Unsigned = json.RawMessage(`{"age_ts":1755384351627}`)
	return p, s
}

// BenchmarkHashAndSignEvent: content hash, redaction and ed25519 signature
// of one message event.
func BenchmarkHashAndSignEvent(b *testing.B) {
	v := lookupVersion(b, "12")
	p, s := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		p.Hashes, p.Signatures = nil, nil
		if err := SignEvent(v, p, s.name, s.key.ID, s.key.Private); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyEvent: the signature check of one message event (key
// lookup from a map).
func BenchmarkVerifyEvent(b *testing.B) {
	v := lookupVersion(b, "12")
	p, s := benchEvent(b)
	s.sign(b, v, p)
	lookup := ring(s)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyEvent(v, p, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveEvent: what a received event costs before the auth
// rules: parse (with event ID), signature check and content hash check.
func BenchmarkReceiveEvent(b *testing.B) {
	v := lookupVersion(b, "12")
	p, s := benchEvent(b)
	s.sign(b, v, p)
	raw, err := p.MarshalFor(v)
	if err != nil {
		b.Fatal(err)
	}
	lookup := ring(s)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		q, err := pdu.Parse(v, raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := VerifyEvent(v, q, lookup); err != nil {
			b.Fatal(err)
		}
		if err := q.CheckContentHash(v); err != nil {
			b.Fatal(err)
		}
	}
}
