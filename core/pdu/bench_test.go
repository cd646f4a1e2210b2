package pdu

import (
	"testing"
)

func benchRealEvent(b *testing.B) (realEvent, []byte) {
	for _, re := range loadRealEvents(b) {
		if re.RoomVersion == "12" && re.Name == "m.room.message in v12 room" {
			return re, []byte(re.Event)
		}
	}
	b.Fatal("no v12 message event in testdata")
	return realEvent{}, nil
}

// BenchmarkParse: canonicalise, check and read one message event, and
// compute its event ID.
func BenchmarkParse(b *testing.B) {
	re, raw := benchRealEvent(b)
	v := version(b, re.RoomVersion)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(v, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContentHash(b *testing.B) {
	re, raw := benchRealEvent(b)
	v := version(b, re.RoomVersion)
	p, err := Parse(v, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ContentHash(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReferenceHash(b *testing.B) {
	re, raw := benchRealEvent(b)
	v := version(b, re.RoomVersion)
	p, err := Parse(v, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ReferenceHash(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalFor(b *testing.B) {
	re, raw := benchRealEvent(b)
	v := version(b, re.RoomVersion)
	p, err := Parse(v, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalFor(v); err != nil {
			b.Fatal(err)
		}
	}
}
