package id

import (
	"fmt"
	"net/netip"
	"strings"
)

// ServerName is a homeserver's name: hostname [ ":" port ], where the
// hostname is an IPv4 literal, an IPv6 literal in brackets, or a DNS name.
// Server names are case-sensitive.
type ServerName string

// ParseServerName validates s against the server name grammar:
//
//	server_name = hostname [ ":" port ]
//	port        = 1*5DIGIT
//	hostname    = IPv4address / "[" IPv6address "]" / dns-name
//	IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
//	IPv6address = 2*45IPv6char
//	IPv6char    = DIGIT / %x41-46 / %x61-66 / ":" / "."
//	dns-name    = 1*255dns-char
//	dns-char    = DIGIT / ALPHA / "-" / "."
//
// An IPv4 literal must have four numbers from 0 to 255 (a hostname shaped
// like one with a larger number is refused, not read as a DNS name), and an
// IPv6 literal must be an address as RFC 3513 section 2.2 writes them.
func ParseServerName(s string) (ServerName, error) {
	if !validServerName(s) {
		return "", fmt.Errorf("%q: %w", s, ErrInvalidServerName)
	}
	return ServerName(s), nil
}

func validServerName(s string) bool {
	host, port, hasPort := splitHostPort(s)
	if hasPort && !validPort(port) {
		return false
	}
	if strings.HasPrefix(host, "[") {
		return len(host) >= 2 && host[len(host)-1] == ']' && validIPv6(host[1:len(host)-1])
	}
	if looksLikeIPv4(host) {
		return validIPv4(host)
	}
	return validDNSName(host)
}

// splitHostPort splits at the port separator: the ':' after an IPv6
// literal's ']', or else the only ':' there can be.
func splitHostPort(s string) (host, port string, hasPort bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return s, "", false
		}
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' {
				return s, "", false // invalid: caught by the host check
			}
			return s[:end+1], rest[1:], true
		}
		return s, "", false
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

func validPort(p string) bool {
	if len(p) < 1 || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

func validIPv6(s string) bool {
	if len(s) < 2 || len(s) > 45 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
			return false
		}
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// looksLikeIPv4 reports whether s matches 1*3DIGIT "." 1*3DIGIT "."
// 1*3DIGIT "." 1*3DIGIT.
func looksLikeIPv4(s string) bool {
	parts := 0
	run := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			run++
			if run > 3 {
				return false
			}
		case c == '.':
			if run == 0 {
				return false
			}
			parts++
			run = 0
		default:
			return false
		}
	}
	return parts == 3 && run > 0
}

// validIPv4 reports whether each of the four numbers of a dotted quad
// (already checked by looksLikeIPv4) is at most 255. Leading zeros are
// allowed by the grammar and read as decimal.
func validIPv4(s string) bool {
	n := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if n > 255 {
				return false
			}
			n = 0
			continue
		}
		n = n*10 + int(s[i]-'0')
	}
	return true
}

func validDNSName(s string) bool {
	if len(s) < 1 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Host returns the hostname part as written (an IPv6 literal keeps its
// brackets).
func (s ServerName) Host() string {
	host, _, _ := splitHostPort(string(s))
	return host
}

// Port returns the explicit port, if there is one.
func (s ServerName) Port() (port int, ok bool) {
	_, p, has := splitHostPort(string(s))
	if !has || !validPort(p) {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		port = port*10 + int(p[i]-'0')
	}
	return port, true
}

func (s ServerName) String() string { return string(s) }
