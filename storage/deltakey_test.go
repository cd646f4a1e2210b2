package storage

import (
	"regexp"
	"testing"
)

// deltaKeyRegexp is the grammar validDeltaKey implements, as the regexp
// it replaced (the browser build links no regexp engine).
var deltaKeyRegexp = regexp.MustCompile(`^([a-z]+)/delta/([0-9]+)/([0-9]{2}[A-Za-z0-9_]+)$`)

func FuzzValidDeltaKey(f *testing.F) {
	for _, k := range []string{"main/delta/2/10search_terms", "state/delta/1/01x", "main/delta/2/1x", "main/delta//01x",
		"Main/delta/2/01x", "main/delta/2/01", "main/delta/2/01a-b", "main/delta/2/01a/", "/delta/2/01a", "main/Delta/2/01a"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if got, want := validDeltaKey(key), deltaKeyRegexp.MatchString(key); got != want {
			t.Errorf("validDeltaKey(%q) = %t, want %t", key, got, want)
		}
	})
}
