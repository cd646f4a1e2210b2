package canonicaljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// appendixExamples reads the "Examples" section of the specification's
// Canonical JSON appendix (copied verbatim into testdata) and returns its
// input/output pairs.
func appendixExamples(t *testing.T) [][2]string {
	t.Helper()
	md, err := os.ReadFile("testdata/appendix-examples.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(md), -1)
	if len(blocks)%2 != 0 {
		t.Fatalf("odd number of json blocks: %d", len(blocks))
	}
	var pairs [][2]string
	for i := 0; i < len(blocks); i += 2 {
		pairs = append(pairs, [2]string{blocks[i][1], strings.TrimSuffix(blocks[i+1][1], "\n")})
	}
	return pairs
}

func TestAppendixExamples(t *testing.T) {
	pairs := appendixExamples(t)
	if len(pairs) != 10 {
		t.Fatalf("found %d examples in the appendix, want 10", len(pairs))
	}
	for _, p := range pairs {
		// The examples give values (as JSON) and their canonical encoding:
		// encoding the decoded value must produce the output.
		var v any
		if err := json.Unmarshal([]byte(p[0]), &v); err != nil {
			t.Fatal(err)
		}
		if got, err := Marshal(v); err != nil || string(got) != p[1] {
			t.Errorf("Marshal(%s) = %q, %v; want %q", p[0], got, err, p[1])
		}
		// Re-encoding the text gives the same, except for the example
		// written with a float literal (1e10): Strict refuses it and
		// Lenient keeps it as written.
		float := strings.Contains(p[0], "1e10")
		strict, err := Canonicalize([]byte(p[0]), Strict)
		switch {
		case float && !errors.Is(err, ErrInvalid):
			t.Errorf("Canonicalize(%q, Strict) = %q, %v; want ErrInvalid (float)", p[0], strict, err)
		case !float && (err != nil || string(strict) != p[1]):
			t.Errorf("Canonicalize(%q, Strict) = %q, %v; want %q", p[0], strict, err, p[1])
		}
		want := p[1]
		if float {
			want = `{"a":0,"b":1e10}`
		}
		if got, err := Canonicalize([]byte(p[0]), Lenient); err != nil || string(got) != want {
			t.Errorf("Canonicalize(%q, Lenient) = %q, %v; want %q", p[0], got, err, want)
		}
	}
}

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"scalars", ` [ true , false , null , 0 , -1 , 9007199254740991 , -9007199254740991 ] `,
			`[true,false,null,0,-1,9007199254740991,-9007199254740991]`},
		{"negative zero", `-0`, `0`},
		{"nested sort", `{"b":{"z":1,"y":[{"d":1,"c":2}]},"a":[]}`, `{"a":[],"b":{"y":[{"c":2,"d":1}],"z":1}}`},
		{"short escapes", `"\b\t\n\f\r\"\\"`, `"\b\t\n\f\r\"\\"`},
		{"u escapes of controls", `"\u0000\u0001\u001F\u000b\u000E"`, `"\u0000\u0001\u001f\u000b\u000e"`},
		{"escapes written raw", `"\/\u0041\u00e9\u007f\u2028"`, "\"/A\u00e9\x7f\u2028\""},
		{"surrogate pair", `"\ud83d\udc08\ufe0f"`, "\"\U0001F408\ufe0f\""},
		{"raw UTF-8 kept", "\"日本語\"", "\"日本語\""},
		{"code point order, not UTF-16", "{\"\uffff\":1,\"\U0001F408\":2}", "{\"\uffff\":1,\"\U0001F408\":2}"},
		{"escaped keys sort decoded", `{"b":1,"\u0061":2,"\n":3,"\"":4}`, `{"\n":3,"\"":4,"a":2,"b":1}`},
		{"upper before lower", `{"a":1,"B":2,"_":3}`, `{"B":2,"_":3,"a":1}`},
		{"prefix sorts first", `{"ab":1,"a":2}`, `{"a":2,"ab":1}`},
		{"space inside strings kept", `{"a b":" x "}`, `{"a b":" x "}`},
		{"empty containers", `{"a":{},"b":[],"c":""}`, `{"a":{},"b":[],"c":""}`},
	}
	for _, tc := range tests {
		for _, mode := range []Mode{Strict, Lenient} {
			got, err := Canonicalize([]byte(tc.in), mode)
			if err != nil || string(got) != tc.want {
				t.Errorf("%s: Canonicalize(%q, %d) = %q, %v; want %q", tc.name, tc.in, mode, got, err, tc.want)
			}
		}
	}
}

func TestStrictRefuses(t *testing.T) {
	tests := []struct{ name, in string }{
		{"float", `{"a":1.5}`},
		{"integral float", `1.0`},
		{"exponent", `1e3`},
		{"negative exponent", `-5E-1`},
		{"above range", `9007199254740992`},
		{"below range", `-9007199254740992`},
		{"far above range", `123456789012345678901234567890`},
		{"duplicate key", `{"a":1,"a":2}`},
		{"duplicate key out of order", `{"b":1,"a":1,"b":2}`},
		{"duplicate key by escape", `{"a":1,"\u0061":2}`},
		{"duplicate nested", `{"x":{"a":1,"a":1}}`},
	}
	for _, tc := range tests {
		got, err := Canonicalize([]byte(tc.in), Strict)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Canonicalize(%q, Strict) = %q, %v; want ErrInvalid", tc.name, tc.in, got, err)
		}
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("%s: error %v is not a *SyntaxError", tc.name, err)
		}
	}
}

func TestBothRefuse(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"space only", `  `},
		{"trailing data", `{} {}`},
		{"trailing comma object", `{"a":1,}`},
		{"trailing comma array", `[1,]`},
		{"leading zero", `01`},
		{"plus sign", `+1`},
		{"bare minus", `-`},
		{"dot without digits", `1.`},
		{"exponent without digits", `1e`},
		{"NaN", `NaN`},
		{"Infinity", `Infinity`},
		{"single quotes", `'a'`},
		{"unquoted key", `{a:1}`},
		{"raw control char", "\"a\x01b\""},
		{"raw newline", "\"a\nb\""},
		{"invalid UTF-8", "\"\xff\""},
		{"truncated UTF-8", "\"\xe6\x97\""},
		{"encoded surrogate", "\"\xed\xa0\x80\""},
		{"overlong encoding", "\"\xc0\xaf\""},
		{"lone high surrogate", `"\ud83d"`},
		{"lone high surrogate then text", `"\ud83dxxxxxx"`},
		{"high then non-low", `"\ud83d\u0041"`},
		{"lone low surrogate", `"\udc08"`},
		{"bad escape", `"\x41"`},
		{"short u escape", `"\u41"`},
		{"unterminated string", `"abc`},
		{"unterminated object", `{"a":1`},
		{"unterminated array", `[1`},
		{"missing colon", `{"a" 1}`},
		{"bad literal", `tru`},
		{"literal prefix", `nulll`},
		{"deep nesting", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
	}
	for _, tc := range tests {
		for _, mode := range []Mode{Strict, Lenient} {
			got, err := Canonicalize([]byte(tc.in), mode)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: Canonicalize(%q, %d) = %q, %v; want ErrInvalid", tc.name, tc.in, mode, got, err)
			}
		}
	}
}

func TestMaxDepthAccepted(t *testing.T) {
	in := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Canonicalize([]byte(in), Strict); err != nil {
		t.Errorf("nesting of exactly MaxDepth refused: %v", err)
	}
}

func TestLenient(t *testing.T) {
	tests := []struct{ in, want string }{
		{`1.5`, `1.5`},
		{`50.0`, `50.0`},
		{`-0`, `0`},
		{`-0.0`, `-0.0`},
		{`1e10`, `1e10`},
		{`5.114698E4`, `5.114698E4`},
		{`1e+16`, `1e+16`},
		{`1e-07`, `1e-07`},
		{`1e400`, `1e400`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`-9007199254740992`, `-9007199254740992`},
		{`{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{`{"b":0,"a":1,"a":2,"a":3}`, `{"a":3,"b":0}`},
	}
	for _, tc := range tests {
		got, err := Canonicalize([]byte(tc.in), Lenient)
		if err != nil || string(got) != tc.want {
			t.Errorf("Canonicalize(%q, Lenient) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	dst := []byte("prefix:")
	got, err := Append(dst, []byte(`{"b":1,"a":2}`), Strict)
	if err != nil || string(got) != `prefix:{"a":2,"b":1}` {
		t.Errorf("Append = %q, %v", got, err)
	}
	got, err = Append(dst, []byte(`{"b":1.5}`), Strict)
	if err == nil || string(got) != "prefix:" {
		t.Errorf("Append on error = %q, %v; want prefix only and an error", got, err)
	}
}

func TestMarshal(t *testing.T) {
	type inner struct {
		Z string `json:"z"`
		A int64  `json:"a"`
	}
	got, err := Marshal(map[string]any{
		"html":  "<a & b>",
		"float": 3.0,
		"s":     inner{Z: "\u2028", A: -0},
	})
	want := "{\"float\":3,\"html\":\"<a & b>\",\"s\":{\"a\":0,\"z\":\"\u2028\"}}"
	if err != nil || string(got) != want {
		t.Errorf("Marshal = %q, %v; want %q", got, err, want)
	}
	if _, err := Marshal(map[string]float64{"x": 0.5}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Marshal(0.5) error = %v, want ErrInvalid", err)
	}
	if _, err := Marshal(int64(1) << 60); !errors.Is(err, ErrInvalid) {
		t.Errorf("Marshal(2^60) error = %v, want ErrInvalid", err)
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\x00\x1f\n\x7f", "\"\\u0000\\u001f\\n\x7f\""},
		{"日本\U0001F408", "\"日本\U0001F408\""},
		{"bad\xffbyte", "\"bad\ufffdbyte\""},
	}
	for _, tc := range tests {
		got := AppendString(nil, tc.in)
		if string(got) != tc.want {
			t.Errorf("AppendString(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Whatever AppendString writes must already be canonical.
		if c, err := Canonicalize(got, Strict); err != nil || !bytes.Equal(c, got) {
			t.Errorf("AppendString(%q) = %q is not canonical (%q, %v)", tc.in, got, c, err)
		}
	}
}

func TestMembersElementsUnquote(t *testing.T) {
	obj := []byte(` { "b" : [1, {"x":"y"}] , "a\u00e9\n" : "v\"w" , "c":null } `)
	type kv struct{ K, V string }
	var got []kv
	err := Members(obj, func(k, v []byte) error {
		got = append(got, kv{string(k), string(v)})
		return nil
	})
	want := []kv{{"b", `[1, {"x":"y"}]`}, {"a\u00e9\n", `"v\"w"`}, {"c", "null"}}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Members (-want +got):\n%s", diff)
	}
	var elems []string
	if err := Elements([]byte(got[0].V), func(v []byte) error { elems = append(elems, string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1", `{"x":"y"}`}, elems); diff != "" {
		t.Errorf("Elements (-want +got):\n%s", diff)
	}
	if s, err := Unquote([]byte(got[1].V)); err != nil || s != `v"w` {
		t.Errorf("Unquote(%s) = %q, %v", got[1].V, s, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := Members(obj, func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Members did not stop on error: %v after %d calls", err, n)
	}
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a":1`, `{"a":1}x`, `{"a":[1}`, `{"a":"x}`, `{"a":1 "b":2}`} {
		if err := Members([]byte(bad), func(k, v []byte) error { return nil }); !errors.Is(err, ErrInvalid) {
			t.Errorf("Members(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	for _, bad := range []string{``, `{}`, `[1,`, `[1 2]`, `[`} {
		if err := Elements([]byte(bad), func(v []byte) error { return nil }); !errors.Is(err, ErrInvalid) {
			t.Errorf("Elements(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	for _, bad := range []string{``, `"`, `"a`, `a"`, `"\ud800"`, "\"\xff\"", `"a"b"`, "\"\x01\""} {
		if s, err := Unquote([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Unquote(%q) = %q, %v; want ErrInvalid", bad, s, err)
		}
	}
}

// TestAgreesWithEncodingJSON checks that canonicalisation preserves the
// decoded value, using encoding/json as an independent decoder.
func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"z":[1,2,{"b":"\u00e9","a":null}],"a":{"y":true,"x":false},"m":"\ud83d\udc08"}`,
		`[{"\u0000":"\u001f"},"\\\"/",-42]`,
	} {
		out, err := Canonicalize([]byte(in), Strict)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal([]byte(in), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("output %q is not JSON: %v", out, err)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("value changed by canonicalisation of %q (-in +out):\n%s", in, diff)
		}
	}
}
