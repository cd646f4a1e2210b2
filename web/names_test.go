package web

import (
	"regexp"
	"testing"
)

// The grammars hashedName and profileKey implement, as the regexps they
// replaced (the browser build links no regexp engine).
var (
	hashedNameRegexp = regexp.MustCompile(`-[0-9a-f]{16}\.[a-z]+$`)
	profileKeyRegexp = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)
)

func FuzzHashedName(f *testing.F) {
	for _, n := range []string{"hearth-0123456789abcdef.wasm", "a/b-0123456789abcdef.js.br", "x-0123456789abcdef.wasm.br",
		"-0123456789abcdef.x", "hearth-0123456789abcdeg.wasm", "hearth-0123456789abcdef.", "hearth0123456789abcdef.wasm",
		"index.html", "-0123456789ABCDEF.js", "q-0123456789abcdef0.js"} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := hashedName(name), hashedNameRegexp.MatchString(name); got != want {
			t.Errorf("hashedName(%q) = %t, want %t", name, got, want)
		}
	})
}

func FuzzProfileKey(f *testing.F) {
	for _, k := range []string{"avatar_url", "displayname", "m.tz", "m.tzx", "org.example.field", "a.b", "a", "a.", ".a",
		"A.b", "a.B", "a_1.b2_", "a..b", "1a.b", "m.tz.x", "displayname.x"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if got, want := profileKey(key), profileKeyRegexp.MatchString(key); got != want {
			t.Errorf("profileKey(%q) = %t, want %t", key, got, want)
		}
	})
}
