package pdu

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/roomversion"
)

func fuzzVersion(n uint8) *roomversion.Version {
	v, _ := roomversion.Lookup(roomversion.ID(fmt.Sprint(int(n)%12 + 1)))
	return v
}

// FuzzParse checks that parsing never panics and that an accepted event
// writes back to its canonical input, parses again to the same value, and
// gets the same hashes from the struct and the JSON algorithms.
func FuzzParse(f *testing.F) {
	for _, re := range loadRealEvents(f) {
		n := 0
		fmt.Sscan(string(re.RoomVersion), &n)
		f.Add([]byte(re.Event), uint8(n-1))
	}
	f.Add([]byte(minimalV11), uint8(10))
	f.Add([]byte(redactionEvent("m.room.member", `{"membership":"join","third_party_invite":{"signed":{}}}`)), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		v := fuzzVersion(n)
		p, err := Parse(v, data)
		if err != nil {
			if !errors.Is(err, ErrInvalidEvent) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse error %v wraps neither ErrInvalidEvent nor ErrTooLarge", err)
			}
			return
		}
		out, err := p.MarshalFor(v)
		if err != nil {
			t.Fatalf("MarshalFor of parsed event: %v", err)
		}
		c, err := canonicaljson.Canonicalize(data, Mode(v))
		if err != nil || string(c) != string(out) {
			t.Fatalf("MarshalFor = %s, canonical input %s (%v)", out, c, err)
		}
		q, err := Parse(v, out)
		if err != nil {
			t.Fatalf("re-Parse: %v", err)
		}
		if diff := cmp.Diff(p, q); diff != "" {
			t.Fatalf("re-Parse differs (-first +second):\n%s", diff)
		}
		ch, err1 := p.ContentHash(v)
		chj, err2 := ContentHashJSON(v, data)
		if err1 != nil || err2 != nil || ch != chj {
			t.Fatalf("content hash %x (%v) vs JSON %x (%v)", ch, err1, chj, err2)
		}
		rh, err1 := p.ReferenceHash(v)
		rhj, err2 := ReferenceHashJSON(v, data)
		if err1 != nil || err2 != nil || rh != rhj {
			t.Fatalf("reference hash %x (%v) vs JSON %x (%v)", rh, err1, rhj, err2)
		}
		checkSignedBytes(t, v, p, data)
		r, err := p.Redact(v)
		if err != nil {
			t.Fatalf("Redact: %v", err)
		}
		if v.EventFormat != roomversion.FormatV1 {
			if id, err := r.ComputeEventID(v); err != nil || id != p.EventID {
				t.Fatalf("redacted event ID %q (%v), original %q", id, err, p.EventID)
			}
		}
	})
}

// FuzzRedactJSON checks that redaction of any JSON never panics and is
// idempotent.
func FuzzRedactJSON(f *testing.F) {
	f.Add([]byte(redactionEvent("m.room.power_levels", `{"ban":1,"x":2}`)), uint8(10))
	f.Add([]byte(`{"type":"m.room.create","content":[]}`), uint8(11))
	f.Add([]byte(`{"type":1,"content":{"a":1}}`), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		v := fuzzVersion(n)
		r, err := RedactJSON(v, data)
		if err != nil {
			return
		}
		again, err := RedactJSON(v, r)
		if err != nil || string(again) != string(r) {
			t.Fatalf("redacting %s twice: %s then %s (%v)", data, r, again, err)
		}
		if _, err := canonicaljson.Canonicalize(r, canonicaljson.Lenient); err != nil {
			t.Fatalf("redacted output %s is not JSON: %v", r, err)
		}
	})
}

// checkSignedBytes checks AppendSignedBytes, which writes the struct once
// and redacts it, against the JSON algorithm on the event's own JSON data:
// the redaction of data without signatures and unsigned, whose SHA-256 is
// the reference hash.
func checkSignedBytes(t *testing.T, v *roomversion.Version, p *PDU, data []byte) {
	t.Helper()
	got, err := p.AppendSignedBytes([]byte("prefix"), v)
	if err != nil {
		t.Fatalf("AppendSignedBytes: %v", err)
	}
	if string(got[:6]) != "prefix" {
		t.Fatalf("AppendSignedBytes overwrote dst: %s", got)
	}
	got = got[6:]
	redacted, err := RedactJSON(v, data)
	if err != nil {
		t.Fatalf("RedactJSON: %v", err)
	}
	want := []byte{'{'}
	err = canonicaljson.Members(redacted, func(k, val []byte) error {
		if string(k) == "signatures" || string(k) == "unsigned" {
			return nil
		}
		if len(want) > 1 {
			want = append(want, ',')
		}
		want = canonicaljson.AppendString(want, string(k))
		want = append(append(want, ':'), val...)
		return nil
	})
	if err != nil {
		t.Fatalf("members of %s: %v", redacted, err)
	}
	want = append(want, '}')
	if string(got) != string(want) {
		t.Fatalf("AppendSignedBytes = %s, redacted JSON without signatures and unsigned %s", got, want)
	}
	rh, err := ReferenceHashJSON(v, data)
	if err != nil || sha256.Sum256(got) != rh {
		t.Fatalf("SHA-256 of the signed bytes %x, reference hash %x (%v)", sha256.Sum256(got), rh, err)
	}
}
