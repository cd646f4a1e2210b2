//go:build !js

package appservice

import "regexp"

// compileNamespace compiles a namespace's regex, anchored at both ends.
func compileNamespace(expr string) (matcher, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// regexpLiteral returns the one string expr matches, if it is a literal
// (as a substring: unanchored, as regexp's LiteralPrefix says).
func regexpLiteral(expr string) (string, bool) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return "", false
	}
	return re.LiteralPrefix()
}
