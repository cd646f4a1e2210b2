package eventauth

import (
	"strings"
	"unicode/utf8"
)

// domainOf returns the server name of a sigil identifier "<sigil>local:domain"
// (user IDs, and room and event IDs of the versions that carry a domain), or
// "" if there is none.
func domainOf(id string) string {
	i := strings.IndexByte(id, ':')
	if i < 0 {
		return ""
	}
	return id[i+1:]
}

// validUserID applies the user ID checks the auth rules ask for: the
// historical grammar, which servers must accept over federation (appendices,
// "Historical User IDs"): "@", a localpart of any code points but ':' and
// NUL (possibly empty), ':', a server name; at most 255 bytes, valid UTF-8.
func validUserID(s string) bool {
	if len(s) > 255 || len(s) < 3 || s[0] != '@' || !utf8.ValidString(s) {
		return false
	}
	i := strings.IndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[:i], 0) >= 0 {
		return false
	}
	return validServerName(s[i+1:])
}

// validServerName checks server_name = hostname [":" port], where hostname
// is an IPv4 address, a bracketed IPv6 literal or a DNS name made of
// letters, digits, '-' and '.'.
func validServerName(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[:end+1], s[end+1:]
		inner := host[1 : len(host)-1]
		if inner == "" || len(inner) > 45 {
			return false
		}
		for _, c := range inner {
			if !(c == ':' || c == '.' || isHex(c)) {
				return false
			}
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i:]
		}
		if host == "" || len(host) > 255 {
			return false
		}
		for _, c := range host {
			if !(c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
	}
	if port == "" {
		return true
	}
	if port[0] != ':' || len(port) < 2 || len(port) > 6 {
		return false
	}
	for _, c := range port[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
