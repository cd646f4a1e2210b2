package id

import (
	"errors"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"@alice:example.org", "@:x", "@a:[::1]:80", "!abc:matrix.org", "!mauT12AzsoqxV7Abvy_ApA-HNPK1LcT4GbP70_AOPyQ",
	"$143454825711DhCxH:matrix.org", "$Jo_lmFR-e6lzrimzCA7DevIn2OwhuQYmd9xkcJBoqAA", "#a:b", "1.2.3.4:5",
	"[1234:5678::abcd]:5678", "@\xff:x", "matrix.org",
}

// FuzzParse checks that no parser panics and that accepted IDs split into
// parts that rebuild them and that parse again.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sn, err := ParseServerName(s); err == nil {
			rebuilt := sn.Host()
			if p, ok := sn.Port(); ok {
				rebuilt += s[strings.LastIndexByte(s, ':'):]
				if p < 0 || p > 99999 {
					t.Fatalf("port %d of %q", p, s)
				}
			}
			if rebuilt != s {
				t.Fatalf("server name %q rebuilt as %q", s, rebuilt)
			}
		} else if !errors.Is(err, ErrInvalidServerName) {
			t.Fatalf("ParseServerName(%q) error %v", s, err)
		}
		if u, err := ParseUserID(s); err == nil {
			if "@"+u.Localpart()+":"+string(u.ServerName()) != s {
				t.Fatalf("user ID %q rebuilt differently", s)
			}
			if _, err := ParseServerName(string(u.ServerName())); err != nil {
				t.Fatalf("user ID %q has bad server name: %v", s, err)
			}
			if nu, err := NewUserID(u.Localpart(), u.ServerName()); err == nil {
				if nu != u || !nu.IsCompliant() {
					t.Fatalf("NewUserID rebuilt %q as %q (compliant %v)", s, nu, nu.IsCompliant())
				}
			}
		} else if !errors.Is(err, ErrInvalidUserID) {
			t.Fatalf("ParseUserID(%q) error %v", s, err)
		}
		if r, err := ParseRoomID(s); err == nil {
			_, hasServer := r.ServerName()
			ev, isHash := r.CreateEventID()
			if hasServer == isHash {
				t.Fatalf("room ID %q: server %v, hash %v", s, hasServer, isHash)
			}
			if isHash {
				if _, err := ParseEventID(string(ev)); err != nil {
					t.Fatalf("room ID %q: create event ID %q invalid: %v", s, ev, err)
				}
			}
		} else if !errors.Is(err, ErrInvalidRoomID) {
			t.Fatalf("ParseRoomID(%q) error %v", s, err)
		}
		if e, err := ParseEventID(s); err == nil {
			if server, ok := e.ServerName(); ok {
				if _, err := ParseServerName(string(server)); err != nil {
					t.Fatalf("event ID %q has bad server name: %v", s, err)
				}
			}
		} else if !errors.Is(err, ErrInvalidEventID) {
			t.Fatalf("ParseEventID(%q) error %v", s, err)
		}
		if a, err := ParseRoomAlias(s); err == nil {
			if "#"+a.Localpart()+":"+string(a.ServerName()) != s {
				t.Fatalf("alias %q rebuilt differently", s)
			}
		} else if !errors.Is(err, ErrInvalidRoomAlias) {
			t.Fatalf("ParseRoomAlias(%q) error %v", s, err)
		}
		// Methods on unvalidated values must not panic either.
		_, _ = UserID(s).Localpart(), UserID(s).IsCompliant()
		_, _ = RoomID(s).CreateEventID()
		_, _ = ServerName(s).Port()
	})
}
