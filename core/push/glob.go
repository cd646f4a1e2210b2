package push

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// glob is a compiled glob-style pattern (appendices, "Glob-style
// matching": * matches zero or more characters, ? exactly one), matched
// case-insensitively (Unicode simple case folding). A glob built with
// words set matches any substring that starts and ends at a word boundary
// (the content.body rule); otherwise it must match the whole value.
//
// It is matched by a small automaton of its own (one pass over the value,
// the set of pattern positions reached so far), which matches exactly as
// Go's regexp with (?is) and the boundaries `(?:^|[^A-Za-z0-9_])` and
// `(?:[^A-Za-z0-9_]|$)` did (FuzzGlob holds it to that), without linking
// the regexp engine into the browser build.
type glob struct {
	literal string // the pattern, when it has no wildcard and words is unset
	words   bool
	toks    []rune // the pattern: a rune, or anyRune (?) or anyRunes (*)
}

// Wildcards in toks: negative, so no rune of a string is mistaken for
// them (utf8 decoding gives runes ≥ 0).
const (
	anyRune  rune = -1 // ?
	anyRunes rune = -2 // *, runs of them folded into one
)

func compileGlob(pattern string, words bool) glob {
	if !strings.ContainsAny(pattern, "*?") && !words {
		return glob{literal: pattern}
	}
	return glob{words: words, toks: globTokens(pattern, true)}
}

// globTokens splits a pattern into runes, with * and ? as wildcards when
// wildcards is set. A byte that is not UTF-8 is U+FFFD, as in a range loop.
func globTokens(pattern string, wildcards bool) []rune {
	toks := make([]rune, 0, len(pattern))
	for _, r := range pattern {
		switch {
		case wildcards && r == '*':
			if len(toks) > 0 && toks[len(toks)-1] == anyRunes {
				continue
			}
			r = anyRunes
		case wildcards && r == '?':
			r = anyRune
		}
		toks = append(toks, r)
	}
	return toks
}

// match reports whether s matches.
func (g *glob) match(s string) bool {
	if g.toks == nil && !g.words {
		return strings.EqualFold(s, g.literal)
	}
	return matchTokens(g.toks, s, g.words)
}

// wordRune says r is a word character for the boundaries: [A-Za-z0-9_]
// and, as case-insensitive matching folds that class, the runes that fold
// into it (ſ U+017F into s, the Kelvin sign U+212A into k).
func wordRune(r rune) bool {
	return r < utf8.RuneSelf && (r == '_' || '0' <= r && r <= '9' || 'a' <= r|0x20 && r|0x20 <= 'z') ||
		r == 0x17f || r == 0x212a
}

// foldEqual says a and b are the same rune under simple case folding.
func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// matchTokens runs the pattern's automaton over s: state k means the first
// k tokens matched the runes read since some start. With words unset the
// only start is the beginning of s and the end must be reached in the last
// state; with words set a match may start at the beginning or after a
// non-word rune and must end before a non-word rune or at the end.
func matchTokens(toks []rune, s string, words bool) bool {
	m := len(toks)
	var buf [128]bool // no allocation for patterns of up to 63 tokens
	var cur, next []bool
	if 2*(m+1) <= len(buf) {
		cur, next = buf[:m+1], buf[m+1:2*(m+1)]
	} else {
		cur, next = make([]bool, m+1), make([]bool, m+1)
	}
	// add sets state k and those a * lets through without a rune.
	add := func(set []bool, k int) {
		for ; k <= m && !set[k]; k++ {
			set[k] = true
			if k == m || toks[k] != anyRunes {
				return
			}
		}
	}
	add(cur, 0)
	for _, r := range s {
		if words && cur[m] && !wordRune(r) {
			return true
		}
		clear(next)
		for k := range m {
			if !cur[k] {
				continue
			}
			switch t := toks[k]; {
			case t == anyRunes:
				add(next, k) // the * takes r and stays
			case t == anyRune || foldEqual(t, r):
				add(next, k+1)
			}
		}
		if words && !wordRune(r) {
			add(next, 0)
		}
		cur, next = next, cur
	}
	return cur[m]
}
