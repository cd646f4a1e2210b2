package eventauth

import (
	"strings"

	"hearth.dev/hearth/core/id"
)

// domainOf returns the server name of a sigil identifier "<sigil>local:domain"
// (user IDs, and room and event IDs of the versions that carry a domain), or
// "" if there is none.
func domainOf(s string) string {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return ""
	}
	return s[i+1:]
}

// validUserID applies the user ID validation the auth rules ask for: the
// historical grammar, which servers must accept over federation.
func validUserID(s string) bool {
	_, err := id.ParseUserID(s)
	return err == nil
}
