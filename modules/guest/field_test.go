package guest

import (
	"encoding/json"
	"testing"
)

func TestStringField(t *testing.T) {
	doc := []byte(`{"type":"m.room.message","n":[1,{"body":"no"}],"x":{"body":"deep"},
		"content":{"msgtype":"m.text","body":"caf\u00e9 \"ok\"","nested":{"a":"b"},"formatted_body":null},"t":true}`)
	for _, c := range []struct {
		path   []string
		want   string
		wantOK bool
	}{
		{[]string{"type"}, "m.room.message", true},
		{[]string{"content", "body"}, `café "ok"`, true},
		{[]string{"content", "nested", "a"}, "b", true},
		{[]string{"content", "formatted_body"}, "", false},
		{[]string{"content", "missing"}, "", false},
		{[]string{"n"}, "", false},
		{[]string{"t"}, "", false},
		{[]string{"type", "x"}, "", false},
		{nil, "", false},
	} {
		got, ok := StringField(doc, c.path...)
		if got != c.want || ok != c.wantOK {
			t.Errorf("StringField(%q) = %q, %v, want %q, %v", c.path, got, ok, c.want, c.wantOK)
		}
	}
	if got, _ := StringField([]byte(`{"a":"1","a":"2"}`), "a"); got != "2" {
		t.Errorf("duplicate key gives %q, want the last value", got)
	}
}

// FuzzStringField: on any valid JSON object, StringField agrees with
// encoding/json about content.body.
func FuzzStringField(f *testing.F) {
	for _, s := range []string{`{"content":{"body":"x"}}`, `{"content":{"body":"\u00e9\n"},"a":[{"b":"}"}]}`,
		`{"content":1}`, `{"content":{"body":null}}`, `{}`, `{"content":{"x":{"body":"no"},"body":"yes"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		// Maps, not structs: encoding/json matches struct fields without
		// regard to case, Matrix keys are case-sensitive.
		var top map[string]json.RawMessage
		if json.Unmarshal(doc, &top) != nil {
			StringField(doc, "content", "body") // must not panic
			return
		}
		var content map[string]any
		if json.Unmarshal(top["content"], &content) != nil {
			return
		}
		want, isString := content["body"].(string)
		if !isString {
			return
		}
		got, ok := StringField(doc, "content", "body")
		if !ok || got != want {
			t.Fatalf("StringField(%s) = %q, %v, want %q", doc, got, ok, want)
		}
	})
}
