package room

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// contentFlagsByDecoding reads the two flags from the content decoded
// into a map, whose keys match exactly (as JSON keys do).
func contentFlagsByDecoding(content []byte) (string, bool) {
	var c map[string]json.RawMessage
	if json.Unmarshal(content, &c) != nil {
		return "", false
	}
	var m string
	if raw := c["membership"]; len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &m)
	}
	url := c["url"]
	return m, len(url) > 0 && url[0] == '"'
}

var contentFlagsSeeds = []string{
	`{}`,
	`{"membership":"join"}`,
	`{"membership":"leave","reason":"bye","url":"mxc://a/b"}`,
	`{"membership":null}`,
	`{"membership":"\u006aoin"}`,
	`{"body":"x","msgtype":"m.image","url":"mxc://example.org/abc"}`,
	`{"url":null}`,
	`{"url":5}`,
	`{"url":{"nested":"mxc://a/b"}}`,
	`{"info":{"url":"mxc://a/b"},"body":"x"}`,
	`{ "url" : "mxc://a/b" , "membership" : "invite" }`,
	`[]`,
	`"membership"`,
	`{"url":"x"`,
	`{"Membership":"join","URL":"mxc://a/b"}`,
	`{"membership":"leave","membeRſhip":"join"}`,
}

// contentFlags reads content.membership and whether content.url is a
// string as decoding the content did.
func TestContentFlags(t *testing.T) {
	want := map[string]struct {
		m   string
		url bool
	}{
		`{"membership":"join"}`:                                          {"join", false},
		`{"membership":"leave","reason":"bye","url":"mxc://a/b"}`:        {"leave", true},
		`{"membership":"\u006aoin"}`:                                     {"join", false},
		`{"body":"x","msgtype":"m.image","url":"mxc://example.org/abc"}`: {"", true},
		`{"url":5}`: {"", false},
		`{"info":{"url":"mxc://a/b"},"body":"x"}`:           {"", false},
		`{ "url" : "mxc://a/b" , "membership" : "invite" }`: {"invite", true},
		`{"url":"x"`: {"", false},
		// Keys match exactly: encoding/json's struct fields, which
		// contentFlags replaced, also took keys that differ in case (and
		// "ſ" for "s"), so a member event whose content had "membership":
		// "leave" and a later "membeRſhip": "join" was stored as a join.
		`{"Membership":"join","URL":"mxc://a/b"}`:         {"", false},
		`{"membership":"leave","membeR\u017fhip":"join"}`: {"leave", false},
	}
	for _, c := range contentFlagsSeeds {
		m, url := contentFlags([]byte(c))
		dm, durl := contentFlagsByDecoding([]byte(c))
		if m != dm || url != durl {
			t.Errorf("contentFlags(%s) = %q, %v; decoding gives %q, %v", c, m, url, dm, durl)
		}
		if w, ok := want[c]; ok && (m != w.m || url != w.url) {
			t.Errorf("contentFlags(%s) = %q, %v; want %q, %v", c, m, url, w.m, w.url)
		}
	}
}

// FuzzContentFlags checks contentFlags against decoding on any JSON
// object in UTF-8 without repeated keys (event content, canonical JSON,
// is always UTF-8 and never repeats a key).
func FuzzContentFlags(f *testing.F) {
	for _, c := range contentFlagsSeeds {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]json.RawMessage
		if !utf8.Valid(data) || json.Unmarshal(data, &obj) != nil || hasRepeatedKey(data) {
			return
		}
		m, url := contentFlags(data)
		dm, durl := contentFlagsByDecoding(data)
		if m != dm || url != durl {
			t.Fatalf("contentFlags(%s) = %q, %v; decoding gives %q, %v", data, m, url, dm, durl)
		}
	})
}

// hasRepeatedKey reports whether the top level of a JSON object names a
// key twice.
func hasRepeatedKey(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return true
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		k, _ := tok.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return true
		}
	}
	return false
}
