package eventauth

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"hearth.dev/hearth/core/pdu"
)

// TestCachedPowerLevels: the cache gives what a fresh parse gives, and
// parses anew when the content or the room version differs under the same
// event ID.
func TestCachedPowerLevels(t *testing.T) {
	v1, v10 := version(t, "1"), version(t, "10")
	e := &pdu.PDU{EventID: "$pl", Type: TypePowerLevels, Content: json.RawMessage(`{"users":{"@a:x":"100"},"ban":"10"}`)}
	for _, step := range []struct {
		name    string
		content string
		v       string
	}{
		{"first", `{"users":{"@a:x":"100"},"ban":"10"}`, "1"},
		{"again", `{"users":{"@a:x":"100"},"ban":"10"}`, "1"},
		{"another version", `{"users":{"@a:x":"100"},"ban":"10"}`, "10"},
		{"redacted content", `{"users":{"@a:x":"100"}}`, "10"},
		{"first again", `{"users":{"@a:x":"100"},"ban":"10"}`, "1"},
	} {
		v := v1
		if step.v == "10" {
			v = v10
		}
		e.Content = json.RawMessage(step.content)
		got, want := cachedPowerLevels(v, e), parsePowerLevels(v, e.Content)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: cached %+v, parsed %+v", step.name, got, want)
		}
	}
	// The content is copied: changing the event's bytes in place does not
	// change what the cache compares against.
	e.Content = json.RawMessage(`{"ban":11}`)
	first := cachedPowerLevels(v10, e)
	e.Content[8] = '9'
	if got := cachedPowerLevels(v10, e); got == first || got.fields[fieldBan].v != 19 {
		t.Errorf("content changed in place: ban %d, want 19 from a fresh parse", got.fields[fieldBan].v)
	}
	// More events than the cache holds: each still parses right.
	for i := range 3 * plCacheSize {
		ev := &pdu.PDU{EventID: fmt.Sprint("$pl", i), Content: json.RawMessage(fmt.Sprintf(`{"kick":%d}`, i))}
		if got := cachedPowerLevels(v10, ev); got.fields[fieldKick].v != int64(i) {
			t.Fatalf("event %d: kick %d", i, got.fields[fieldKick].v)
		}
	}
	if n := len(plCache.m); n > plCacheSize {
		t.Errorf("cache holds %d entries, bound %d", n, plCacheSize)
	}
}
