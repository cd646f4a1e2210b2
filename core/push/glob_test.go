package push

import (
	"regexp"
	"strings"
	"testing"
)

// globRegexp is how globs were matched before the automaton: Go's regexp,
// (?is), word boundaries as below. The tests hold the automaton to it.
func globRegexp(pattern string, words, wildcards bool) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`(?is)`)
	if words {
		b.WriteString(`(?:^|[^A-Za-z0-9_])`)
	} else {
		b.WriteString(`^`)
	}
	b.WriteString(`(?:`)
	prevStar := false
	for _, r := range pattern {
		switch {
		case wildcards && r == '*':
			if !prevStar {
				b.WriteString(`.*`)
			}
			prevStar = true
			continue
		case wildcards && r == '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		prevStar = false
	}
	b.WriteString(`)`)
	if words {
		b.WriteString(`(?:[^A-Za-z0-9_]|$)`)
	} else {
		b.WriteString(`$`)
	}
	return regexp.Compile(b.String())
}

func checkGlob(t *testing.T, pattern, s string, words bool) {
	t.Helper()
	if re, err := globRegexp(pattern, words, true); err == nil {
		g := compileGlob(pattern, words)
		if got, want := g.match(s), re.MatchString(s); got != want {
			t.Errorf("glob %q (words %t) on %q = %t, regexp says %t", pattern, words, s, got, want)
		}
	}
	if re, err := globRegexp(pattern, true, false); err == nil {
		c := &Context{DisplayName: pattern}
		if got, want := c.containsDisplayName(s), pattern != "" && re.MatchString(s); got != want {
			t.Errorf("display name %q in %q = %t, regexp says %t", pattern, s, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		words      bool
		want       bool
	}{
		{"cake*lie", "cake is a lie", false, true},
		{"cake*lie", "The cake is a lie!", false, false},
		{"cake*lie", "The cake is a lie!", true, true},
		{"lie", "believe", true, false},
		{"lie", "a lie.", true, true},
		{"l?e", "LIE", false, true},
		{"k", "\u212a", false, true},  // Kelvin sign folds to k
		{"s", "x\u017f", true, false}, // ſ is a word rune under folding
		{"s", "x s", true, true},
		{"?", "\xff", false, true}, // a byte that is not UTF-8 is one rune
		{"\ufffd", "\xff", false, true},
		{"a*", "A\nB", false, true}, // * crosses newlines
		{"**a", "xa", false, true},
		{"", "", false, true},
		{"", "", true, true},
		{"", "abc", true, false},
		{"", "a b", true, false}, // the boundary before is a rune of its own
		{"", "a  b", true, true},
		{"alice", "hi Alice_", true, false},
		{"alice", "hi ALICE:", true, true},
	}
	for _, tt := range tests {
		g := compileGlob(tt.pattern, tt.words)
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("glob %q (words %t) on %q = %t, want %t", tt.pattern, tt.words, tt.s, got, tt.want)
		}
		checkGlob(t, tt.pattern, tt.s, tt.words)
	}
}

// FuzzGlob: globs and display names match exactly as the regexps they
// replaced.
func FuzzGlob(f *testing.F) {
	f.Add("cake*lie", "The cake is a lie", true)
	f.Add("l?e*", "LIE\u212a", false)
	f.Add("*\u017f?", "x\u017f\xffs", true)
	f.Add("Alice", "hello alice!", true)
	f.Add("", " ", true)
	f.Fuzz(func(t *testing.T, pattern, s string, words bool) {
		if len(pattern) > 64 || len(s) > 512 {
			return
		}
		checkGlob(t, pattern, s, words)
	})
}
