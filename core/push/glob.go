package push

import (
	"regexp"
	"strings"
)

// glob is a compiled glob-style pattern (appendices, "Glob-style
// matching": * matches zero or more characters, ? exactly one), matched
// case-insensitively (Unicode simple case folding). A glob built with
// words set matches any substring that starts and ends at a word boundary
// (the content.body rule); otherwise it must match the whole value.
type glob struct {
	literal string // the pattern, when it has no wildcard
	words   bool
	re      *regexp.Regexp // when it has one; nil (with bad set) if it failed to compile
	bad     bool
}

// boundary is the regexp of a word boundary: the start or end of the value,
// or a character outside [A-Za-z0-9_].
const (
	boundaryBefore = `(?:^|[^A-Za-z0-9_])`
	boundaryAfter  = `(?:[^A-Za-z0-9_]|$)`
)

func compileGlob(pattern string, words bool) glob {
	g := glob{words: words}
	if !strings.ContainsAny(pattern, "*?") && !words {
		g.literal = pattern
		return g
	}
	var b strings.Builder
	b.WriteString(`(?is)`)
	if words {
		b.WriteString(boundaryBefore)
	} else {
		b.WriteString(`^`)
	}
	b.WriteString(`(?:`)
	b.WriteString(globRegexp(pattern))
	b.WriteString(`)`)
	if words {
		b.WriteString(boundaryAfter)
	} else {
		b.WriteString(`$`)
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		g.bad = true // too large for the regexp engine: never matches
		return g
	}
	g.re = re
	return g
}

// globRegexp translates a glob to a regexp body.
func globRegexp(pattern string) string {
	var b strings.Builder
	prevStar := false
	for _, r := range pattern {
		switch r {
		case '*':
			if !prevStar {
				b.WriteString(`.*`)
			}
			prevStar = true
			continue
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		prevStar = false
	}
	return b.String()
}

// match reports whether s matches.
func (g *glob) match(s string) bool {
	switch {
	case g.bad:
		return false
	case g.re != nil:
		return g.re.MatchString(s)
	default:
		return strings.EqualFold(s, g.literal)
	}
}
