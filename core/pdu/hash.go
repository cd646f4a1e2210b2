package pdu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/roomversion"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 4*MaxSize {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// ContentHashJSON computes the content hash of the event JSON: SHA-256 of
// its canonical JSON without the unsigned, signatures and hashes keys.
func ContentHashJSON(v *roomversion.Version, event []byte) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	c, err := canonicaljson.Append(*bp, event, Mode(v))
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	*bp = c
	return hashWithout(c, "unsigned", "signatures", "hashes")
}

// ReferenceHashJSON computes the reference hash of the event JSON: SHA-256
// of the canonical JSON of the event redacted by room version v's rules,
// without signatures and unsigned.
func ReferenceHashJSON(v *roomversion.Version, event []byte) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	c, err := canonicaljson.Append(*bp, event, Mode(v))
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	*bp = c
	return referenceHashCanonical(v, c)
}

func referenceHashCanonical(v *roomversion.Version, c []byte) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	r, err := redactCanonical(*bp, v, c)
	*bp = r
	if err != nil {
		return [32]byte{}, err
	}
	// Redaction has removed unsigned (and any top-level age_ts).
	return hashWithout(r, "signatures")
}

// hashWithout hashes canonical object c without the given top-level keys.
func hashWithout(c []byte, drop ...string) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	out := append(*bp, '{')
	first := true
	err := canonicaljson.Members(c, func(k, val []byte) error {
		for _, d := range drop {
			if string(k) == d {
				return nil
			}
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = canonicaljson.AppendString(out, string(k))
		out = append(out, ':')
		out = append(out, val...)
		return nil
	})
	out = append(out, '}')
	*bp = out
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	return sha256.Sum256(out), nil
}

// eventIDFromHash writes a reference hash as an event ID of room version
// v (3 and later).
// EventIDFromReferenceHash is the event ID of an event whose reference
// hash is h, in a room version whose event IDs are reference hashes (3 and
// later).
func EventIDFromReferenceHash(v *roomversion.Version, h [32]byte) string {
	return eventIDFromHash(v, h)
}

func eventIDFromHash(v *roomversion.Version, h [32]byte) string {
	if v.EventIDs == roomversion.EventIDBase64 {
		return "$" + base64.RawStdEncoding.EncodeToString(h[:])
	}
	return "$" + base64.RawURLEncoding.EncodeToString(h[:])
}

func eventIDFromCanonical(v *roomversion.Version, c []byte) (string, error) {
	h, err := referenceHashCanonical(v, c)
	if err != nil {
		return "", err
	}
	return eventIDFromHash(v, h), nil
}

// ContentHash computes the event's content hash for room version v.
func (p *PDU) ContentHash(v *roomversion.Version) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	b, err := p.appendJSON(*bp, v, func(k string) bool {
		return k == "unsigned" || k == "signatures" || k == "hashes"
	})
	*bp = b
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// ReferenceHash computes the event's reference hash for room version v.
func (p *PDU) ReferenceHash(v *roomversion.Version) ([32]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	b, err := p.appendJSON(*bp, v, func(k string) bool { return k == "unsigned" || k == "signatures" })
	*bp = b
	if err != nil {
		return [32]byte{}, err
	}
	return referenceHashCanonical(v, b)
}

// AppendSignedBytes appends to dst what a signature of the event covers,
// which is also what its reference hash hashes: the canonical JSON of the
// event redacted by room version v's rules, without signatures and
// unsigned. The event is written once, in canonical form, and redacted
// from there.
func (p *PDU) AppendSignedBytes(dst []byte, v *roomversion.Version) ([]byte, error) {
	bp := getBuf()
	defer putBuf(bp)
	b, err := p.appendJSON(*bp, v, func(k string) bool { return k == "unsigned" || k == "signatures" })
	*bp = b
	if err != nil {
		return dst, err
	}
	return redactCanonical(dst, v, b)
}

// CheckContentHash recomputes the content hash and compares it with
// hashes.sha256 (unpadded base64; padding is accepted). It returns an error
// wrapping ErrContentHashMismatch if they differ or the hash is missing.
// A receiving server then uses the redacted event in place of this one.
func (p *PDU) CheckContentHash(v *roomversion.Version) error {
	if p.Hashes == nil {
		return fmt.Errorf("%w: no hashes", ErrContentHashMismatch)
	}
	want, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(p.Hashes.SHA256, "="))
	if err != nil {
		return fmt.Errorf("%w: hashes.sha256 is not base64", ErrContentHashMismatch)
	}
	got, err := p.ContentHash(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(got[:], want) {
		return fmt.Errorf("%w: event says %s, content hashes to %s", ErrContentHashMismatch,
			p.Hashes.SHA256, base64.RawStdEncoding.EncodeToString(got[:]))
	}
	return nil
}

// ComputeEventID returns the event's ID in room version v: the event_id
// field for versions 1 and 2 (which must be a valid ID with a server name),
// and "$" + the base64 reference hash from version 3 (standard alphabet in
// version 3, URL-safe from version 4). It does not set EventID.
func (p *PDU) ComputeEventID(v *roomversion.Version) (string, error) {
	if v.EventFormat == roomversion.FormatV1 {
		if err := checkEventID(v, p.EventID); err != nil {
			return "", fmt.Errorf("event_id: %w", err)
		}
		return p.EventID, nil
	}
	h, err := p.ReferenceHash(v)
	if err != nil {
		return "", err
	}
	return eventIDFromHash(v, h), nil
}

// RoomIDFor returns the ID of the room the event belongs to. For the
// m.room.create event of a room version whose room IDs come from the
// create event (12 and later) that is "!" + the URL-safe base64 of the
// event's reference hash; for every other event it is RoomID.
func (p *PDU) RoomIDFor(v *roomversion.Version) (string, error) {
	if !v.RoomIDFromCreateEvent || !p.isCreate() {
		return p.RoomID, nil
	}
	h, err := p.ReferenceHash(v)
	if err != nil {
		return "", err
	}
	return string(id.RoomIDFromHash(h)), nil
}

// CheckSize returns an error wrapping ErrTooLarge if the event's canonical
// federation form is over MaxSize bytes.
func (p *PDU) CheckSize(v *roomversion.Version) error {
	bp := getBuf()
	defer putBuf(bp)
	b, err := p.appendJSON(*bp, v, nil)
	*bp = b
	if err != nil {
		return err
	}
	if len(b) > MaxSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return nil
}
