package matrixhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
)

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat("}", depth-1)
}

func readJSONString(body string) error {
	var v any
	return ReadJSON(httptest.NewRequest("PUT", "/", strings.NewReader(body)), &v)
}

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name, body, wantCode string
	}{
		{"empty is {}", "", ""},
		{"object", `{"a":[1,"x"]}`, ""},
		{"at the depth limit", nested(MaxJSONDepth), ""},
		{"brackets in strings do not count", `{"a":"` + strings.Repeat("[{", 2*MaxJSONDepth) + `\"["}`, ""},
		{"one level too deep", nested(MaxJSONDepth + 1), "M_BAD_JSON"},
		{"a transaction with an event at the event limit", `{"pdus":[` + nested(canonicaljson.MaxDepth) + `]}`, ""},
		{"a transaction with an event past the event limit", `{"pdus":[` + nested(canonicaljson.MaxDepth+1) + `]}`, "M_BAD_JSON"},
		{"9000 levels of arrays", strings.Repeat("[", 9000) + strings.Repeat("]", 9000), "M_BAD_JSON"},
		{"invalid UTF-8 in a string", "{\"a\":\"\x81\"}", "M_NOT_JSON"},
		{"invalid UTF-8 in a key", "{\"\xff\":1}", "M_NOT_JSON"},
		{"a lone surrogate half in UTF-8", "{\"a\":\"\xed\xa0\x80\"}", "M_NOT_JSON"},
		{"not JSON", `{"a":`, "M_NOT_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readJSONString(tt.body)
			var got string
			if err != nil {
				var me *core.Error
				if !errors.As(err, &me) {
					t.Fatalf("ReadJSON = %v, not a Matrix error", err)
				}
				got = me.ErrCode
			}
			if got != tt.wantCode {
				t.Errorf("ReadJSON(%.40q) = %v, want errcode %q", tt.body, err, tt.wantCode)
			}
		})
	}
}

func TestReadJSONBodyKeepsBytes(t *testing.T) {
	in := `{"b": 1.50, "a": "\u00e9"}`
	got, err := ReadJSONBody(httptest.NewRequest("PUT", "/", strings.NewReader(in)), MaxJSONBody)
	if err != nil || string(got) != in {
		t.Errorf("ReadJSONBody(%q) = %q, %v, want it unchanged", in, got, err)
	}
	if _, err := ReadJSONBody(httptest.NewRequest("PUT", "/", strings.NewReader("")), MaxJSONBody); !errors.Is(err, core.ErrNotJSON) {
		t.Errorf("ReadJSONBody of an empty body = %v, want M_NOT_JSON", err)
	}
}

func TestJSONDepthAllocatesNothing(t *testing.T) {
	b := []byte(nested(2000))
	if n := testing.AllocsPerRun(10, func() { jsonDepth(b) }); n != 0 {
		t.Errorf("jsonDepth allocates %v times per run, want 0", n)
	}
}

// depthOf measures the nesting of a decoded JSON value.
func depthOf(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

// FuzzCheckJSON checks the body reader against encoding/json: it accepts a
// body exactly when the body is valid JSON in valid UTF-8 nested at most
// MaxJSONDepth levels, and the one-pass depth count equals the depth of
// the decoded value.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `"x"`, `1`, `{"a":[1,{"b":null}]}`, `{"a":"[[[\"]]"}`, `[[[[`, `]]]]`,
		"{\"a\":\"\x81\"}", `{"a":"\\"}`, nested(MaxJSONDepth), nested(MaxJSONDepth + 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckJSON(b)
		var v any
		valid := utf8.Valid(b) && json.Valid(b)
		if valid {
			if json.Unmarshal(b, &v) == nil {
				if d := depthOf(v); d != jsonDepth(b) {
					t.Fatalf("jsonDepth(%q) = %d, decoded depth %d", b, jsonDepth(b), d)
				}
			}
		}
		want := valid && jsonDepth(b) <= MaxJSONDepth
		if (err == nil) != want {
			t.Fatalf("CheckJSON(%q) = %v, want accepted %v", b, err, want)
		}
		if err != nil {
			var me *core.Error
			if !errors.As(err, &me) || (me.ErrCode != "M_NOT_JSON" && me.ErrCode != "M_BAD_JSON") || me.Status != 400 {
				t.Fatalf("CheckJSON(%q) = %v, want a 400 M_NOT_JSON or M_BAD_JSON", b, err)
			}
		}
		// ReadJSON agrees on non-empty bodies.
		if len(bytes.TrimSpace(b)) > 0 {
			rerr := ReadJSON(httptest.NewRequest("PUT", "/", bytes.NewReader(b)), &v)
			if (rerr == nil) != (err == nil) {
				t.Fatalf("ReadJSON(%q) = %v, CheckJSON = %v", b, rerr, err)
			}
		}
	})
}
