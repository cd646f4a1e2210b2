package pdu

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"hearth.dev/hearth/core/canonicaljson"
)

// An event's whole JSON may nest canonicaljson.MaxDepth levels, the most
// Parse accepts: content one level below the event may nest one level
// less. Writing, hashing and the signed bytes refuse content nested
// deeper, as they did when the signed bytes were made by canonicalising
// the whole event; the content alone is not the measure.
func TestEventDepthLimit(t *testing.T) {
	v := version(t, "11")
	nested := func(levels int) json.RawMessage {
		return json.RawMessage(strings.Repeat(`{"a":`, levels-1) + `{}` + strings.Repeat("}", levels-1))
	}
	for _, tt := range []struct {
		content int // levels of the content
		ok      bool
	}{
		{canonicaljson.MaxDepth - 1, true},
		{canonicaljson.MaxDepth, false},
	} {
		p, err := Parse(v, []byte(minimalV11))
		if err != nil {
			t.Fatal(err)
		}
		p.Content = nested(tt.content)
		js, err := p.MarshalFor(v)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalidEvent) {
			t.Fatalf("content of %d levels: MarshalFor error %v, want ok %v", tt.content, err, tt.ok)
		}
		if _, err := p.AppendSignedBytes(nil, v); (err == nil) != tt.ok {
			t.Fatalf("content of %d levels: AppendSignedBytes error %v, want ok %v", tt.content, err, tt.ok)
		}
		if _, err := p.ContentHash(v); (err == nil) != tt.ok {
			t.Fatalf("content of %d levels: ContentHash error %v, want ok %v", tt.content, err, tt.ok)
		}
		if tt.ok {
			if _, err := Parse(v, js); err != nil {
				t.Fatalf("content of %d levels: the written event does not parse: %v", tt.content, err)
			}
		}
	}
	// The whole event one level deeper than Parse accepts.
	deep := strings.Replace(minimalV11, `{"body":"hi"}`, string(nested(canonicaljson.MaxDepth)), 1)
	if _, err := Parse(v, []byte(deep)); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("Parse of an event of %d levels: %v, want ErrInvalidEvent", canonicaljson.MaxDepth+1, err)
	}
}
