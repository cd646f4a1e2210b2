package room

import (
	"encoding/json"
	"net/netip"
	"strings"
)

// TypeServerACL is the event type of a room's server access control list.
const TypeServerACL = "m.room.server_acl"

// serverACL is the content of m.room.server_acl.
type serverACL struct {
	Allow           []string `json:"allow"`
	Deny            []string `json:"deny"`
	AllowIPLiterals *bool    `json:"allow_ip_literals"`
}

// ServerAllowed applies a room's m.room.server_acl content (nil: the room
// has none, and every server is allowed) to serverName, as the
// client-server API's "Server Access Control Lists" orders: the port is
// ignored; an IP literal is denied unless allow_ip_literals (default
// true); a name matching deny is denied; one matching allow is allowed;
// anything else is denied. Globs take * and ?, case-insensitively. A
// content that does not parse allows every server (it is not an ACL).
func ServerAllowed(aclContent json.RawMessage, serverName string) bool {
	if aclContent == nil {
		return true
	}
	var acl serverACL
	if json.Unmarshal(aclContent, &acl) != nil {
		return true
	}
	host := hostOf(serverName)
	if isIPLiteral(host) && acl.AllowIPLiterals != nil && !*acl.AllowIPLiterals {
		return false
	}
	for _, g := range acl.Deny {
		if globMatch(strings.ToLower(g), strings.ToLower(host)) {
			return false
		}
	}
	for _, g := range acl.Allow {
		if globMatch(strings.ToLower(g), strings.ToLower(host)) {
			return true
		}
	}
	return false
}

// hostOf strips the port from a server name.
func hostOf(serverName string) string {
	if strings.HasPrefix(serverName, "[") {
		if i := strings.Index(serverName, "]"); i >= 0 {
			return serverName[:i+1]
		}
		return serverName
	}
	if i := strings.LastIndexByte(serverName, ':'); i >= 0 {
		return serverName[:i]
	}
	return serverName
}

func isIPLiteral(host string) bool {
	if strings.HasPrefix(host, "[") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// globMatch reports whether s matches the glob g (* any run, ? one
// character), without backtracking blow-up.
func globMatch(g, s string) bool {
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(g) && (g[gi] == '?' || g[gi] == s[si]):
			gi++
			si++
		case gi < len(g) && g[gi] == '*':
			star, mark = gi, si
			gi++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(g) && g[gi] == '*' {
		gi++
	}
	return gi == len(g)
}
