package id

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestParseServerName(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		host string
		port int // -1: none
	}{
		// The examples of valid server names in the appendix.
		{"matrix.org", true, "matrix.org", -1},
		{"matrix.org:8888", true, "matrix.org", 8888},
		{"1.2.3.4", true, "1.2.3.4", -1},
		{"1.2.3.4:1234", true, "1.2.3.4", 1234},
		{"[1234:5678::abcd]", true, "[1234:5678::abcd]", -1},
		{"[1234:5678::abcd]:5678", true, "[1234:5678::abcd]", 5678},
		// More valid forms.
		{"localhost", true, "localhost", -1},
		{"MATRIX.ORG", true, "MATRIX.ORG", -1},
		{"a-b.c", true, "a-b.c", -1},
		{"x:1", true, "x", 1},
		{"x:99999", true, "x", 99999},
		{"010.0.0.1", true, "010.0.0.1", -1},
		{"255.255.255.255", true, "255.255.255.255", -1},
		{"1.2.3", true, "1.2.3", -1}, // three parts: a dns-name
		{"1.2.3.4.5", true, "1.2.3.4.5", -1},
		{"[::1]", true, "[::1]", -1},
		{"[::ffff:1.2.3.4]:8448", true, "[::ffff:1.2.3.4]", 8448},
		{"[ABCD::EF]", true, "[ABCD::EF]", -1},
		{strings.Repeat("a", 255), true, strings.Repeat("a", 255), -1},
		// Invalid.
		{"", false, "", 0},
		{":80", false, "", 0},
		{"matrix.org:", false, "", 0},
		{"matrix.org:123456", false, "", 0},
		{"matrix.org:80a", false, "", 0},
		{"matrix.org:-1", false, "", 0},
		{"matrix_org", false, "", 0},
		{"mätrix.org", false, "", 0},
		{"matrix.org/x", false, "", 0},
		{"a b", false, "", 0},
		{"1.2.3.256", false, "", 0},
		{"999.1.1.1", false, "", 0},
		{"1234.1.1.1", true, "1234.1.1.1", -1}, // not IPv4-shaped: a dns-name
		{"[1234:5678::abcd", false, "", 0},
		{"[1234:5678::abcd]x", false, "", 0},
		{"[1234:5678::abcd]:", false, "", 0},
		{"[::1%eth0]", false, "", 0},
		{"[1.2.3.4]", false, "", 0},
		{"[:]", false, "", 0},
		{"[gggg::1]", false, "", 0},
		{"[]", false, "", 0},
		{"::1", false, "", 0},
		{strings.Repeat("a", 256), false, "", 0},
	}
	for _, tc := range tests {
		got, err := ParseServerName(tc.in)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidServerName) {
				t.Errorf("ParseServerName(%q) = %q, %v; want ErrInvalidServerName", tc.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != tc.in {
			t.Errorf("ParseServerName(%q) = %q, %v", tc.in, got, err)
			continue
		}
		if h := got.Host(); h != tc.host {
			t.Errorf("ServerName(%q).Host() = %q, want %q", tc.in, h, tc.host)
		}
		port, ok := got.Port()
		if tc.port < 0 && ok || tc.port >= 0 && (!ok || port != tc.port) {
			t.Errorf("ServerName(%q).Port() = %d, %v; want %d", tc.in, port, ok, tc.port)
		}
	}
}

func TestParseUserID(t *testing.T) {
	tests := []struct {
		in        string
		ok        bool
		compliant bool
		local     string
		server    ServerName
	}{
		{"@alice:example.org", true, true, "alice", "example.org"},
		{"@a.b_c=d-e/f+g:example.org:8448", true, true, "a.b_c=d-e/f+g", "example.org:8448"},
		{"@bob:[::1]:8448", true, true, "bob", "[::1]:8448"},
		// Historical IDs: accepted, not compliant unless printable ASCII.
		{"@Alice:example.org", true, true, "Alice", "example.org"},
		{"@a!b#c:example.org", true, true, "a!b#c", "example.org"},
		{"@:example.org", true, false, "", "example.org"},
		{"@日本:example.org", true, false, "日本", "example.org"},
		{"@a b:example.org", true, false, "a b", "example.org"},
		{"@a\x01:example.org", true, false, "a\x01", "example.org"},
		// Invalid.
		{"alice:example.org", false, false, "", ""},
		{"@alice", false, false, "", ""},
		{"@alice:", false, false, "", ""},
		{"@alice:bad_server", false, false, "", ""},
		{"@a\x00b:example.org", false, false, "", ""},
		{"@\xff:example.org", false, false, "", ""},
		{"@\xed\xa0\x80:example.org", false, false, "", ""}, // encoded surrogate
		{"@" + strings.Repeat("a", 243) + ":example.org", false, false, "", ""},
		{"", false, false, "", ""},
	}
	for _, tc := range tests {
		got, err := ParseUserID(tc.in)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidUserID) {
				t.Errorf("ParseUserID(%q) = %q, %v; want ErrInvalidUserID", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseUserID(%q): %v", tc.in, err)
			continue
		}
		if got.Localpart() != tc.local || got.ServerName() != tc.server || got.IsCompliant() != tc.compliant {
			t.Errorf("ParseUserID(%q) = local %q server %q compliant %v; want %q %q %v",
				tc.in, got.Localpart(), got.ServerName(), got.IsCompliant(), tc.local, tc.server, tc.compliant)
		}
	}
	// Exactly 255 bytes is allowed.
	max := "@" + strings.Repeat("a", 242) + ":example.org"
	if _, err := ParseUserID(max); len(max) != 255 || err != nil {
		t.Errorf("ParseUserID of %d bytes: %v", len(max), err)
	}
}

func TestNewUserID(t *testing.T) {
	tests := []struct {
		local  string
		server ServerName
		ok     bool
	}{
		{"alice", "example.org", true},
		{"a.b_c=d-e/f+g0", "example.org", true},
		{"Alice", "example.org", false},
		{"", "example.org", false},
		{"a b", "example.org", false},
		{"a:b", "example.org", false},
		{"日本", "example.org", false},
		{"alice", "bad_server", false},
		{strings.Repeat("a", 243), "example.org", false},
	}
	for _, tc := range tests {
		got, err := NewUserID(tc.local, tc.server)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrInvalidUserID)) {
			t.Errorf("NewUserID(%q, %q) = %q, %v; want ok=%v", tc.local, tc.server, got, err, tc.ok)
		}
		if tc.ok && string(got) != "@"+tc.local+":"+string(tc.server) {
			t.Errorf("NewUserID(%q, %q) = %q", tc.local, tc.server, got)
		}
	}
}

func TestParseRoomID(t *testing.T) {
	h := sha256.Sum256([]byte("create event"))
	v12 := RoomIDFromHash(h)
	tests := []struct {
		in     string
		ok     bool
		server ServerName // "" when none
	}{
		{"!abc123:matrix.org", true, "matrix.org"},
		{"!JiiOHXrIUCtcOJsZCa:matrix.org", true, "matrix.org"},
		{"!offtopic-2:continuwuity.org", true, "continuwuity.org"},
		{"!#test/room\nversion <u>11</u>, with @\U0001F408\ufe0f:maunium.net", true, "maunium.net"},
		{"!mauT12AzsoqxV7Abvy_ApA-HNPK1LcT4GbP70_AOPyQ", true, ""},
		{"!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ", true, ""},
		{string(v12), true, ""},
		{"!abc", false, ""},
		{"!:matrix.org", false, ""},
		{"!a\x00b:matrix.org", false, ""},
		{"!abc:bad server", false, ""},
		{"abc:matrix.org", false, ""},
		{"!mauT12AzsoqxV7Abvy/ApA+HNPK1LcT4GbP70/AOPyQ", false, ""}, // standard alphabet
		{"!mauT12AzsoqxV7Abvy_ApA-HNPK1LcT4GbP70_AOPyR", false, ""}, // trailing bits set
		{"!mauT12AzsoqxV7Abvy_ApA-HNPK1LcT4GbP70_AOPy", false, ""},
		{"!", false, ""},
		{"", false, ""},
	}
	for _, tc := range tests {
		got, err := ParseRoomID(tc.in)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidRoomID) {
				t.Errorf("ParseRoomID(%q) = %q, %v; want ErrInvalidRoomID", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRoomID(%q): %v", tc.in, err)
			continue
		}
		server, has := got.ServerName()
		if has != (tc.server != "") || server != tc.server {
			t.Errorf("RoomID(%q).ServerName() = %q, %v; want %q", tc.in, server, has, tc.server)
		}
		ev, isHash := got.CreateEventID()
		if isHash == has {
			t.Errorf("RoomID(%q).CreateEventID() ok = %v with server %v", tc.in, isHash, has)
		}
		if isHash {
			if ev != EventID("$"+tc.in[1:]) {
				t.Errorf("RoomID(%q).CreateEventID() = %q", tc.in, ev)
			}
			if _, err := ParseEventID(string(ev)); err != nil {
				t.Errorf("create event ID %q of room %q does not parse: %v", ev, tc.in, err)
			}
		}
	}
}

func TestParseEventID(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		server ServerName
	}{
		{"$16738169022163bokdi:maunium.net", true, "maunium.net"},
		{"$143454825711DhCxH:matrix.org", true, "matrix.org"},
		{"$a4ecee13e2accdadf56c1025:example.com:8448", true, "example.com:8448"},
		{"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", true, ""}, // v4+
		{"$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk", true, ""}, // v3, standard alphabet
		{"$Jo_lmFR-e6lzrimzCA7DevIn2OwhuQYmd9xkcJBoqAA", true, ""},
		{"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg=", false, ""}, // padded
		{"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92+kuZq3a5lr5Zg", false, ""},  // mixed alphabets
		{"$Rqnc+F+dvnEYJTyHq/iKxU2bZ1CI92+kuZq3a5lr5Zg", true, ""},   // same hash, standard alphabet
		{"$short", false, ""},
		{"$:matrix.org", false, ""},
		{"$abc:", false, ""},
		{"Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg", false, ""},
		{"$" + strings.Repeat("a", 243) + ":example.org", false, ""},
		{"", false, ""},
	}
	for _, tc := range tests {
		got, err := ParseEventID(tc.in)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidEventID) {
				t.Errorf("ParseEventID(%q) = %q, %v; want ErrInvalidEventID", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEventID(%q): %v", tc.in, err)
			continue
		}
		server, has := got.ServerName()
		if has != (tc.server != "") || server != tc.server {
			t.Errorf("EventID(%q).ServerName() = %q, %v; want %q", tc.in, server, has, tc.server)
		}
	}
}

func TestParseRoomAlias(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		local  string
		server ServerName
	}{
		{"#room:example.org", true, "room", "example.org"},
		{"#Room Name!:example.org:8448", true, "Room Name!", "example.org:8448"},
		{"#日本:[::1]", true, "日本", "[::1]"},
		{"#:example.org", false, "", ""},
		{"#room", false, "", ""},
		{"#ro\x00om:example.org", false, "", ""},
		{"room:example.org", false, "", ""},
		{"#room:exa mple.org", false, "", ""},
		{"#" + strings.Repeat("a", 243) + ":example.org", false, "", ""},
	}
	for _, tc := range tests {
		got, err := ParseRoomAlias(tc.in)
		if !tc.ok {
			if !errors.Is(err, ErrInvalidRoomAlias) {
				t.Errorf("ParseRoomAlias(%q) = %q, %v; want ErrInvalidRoomAlias", tc.in, got, err)
			}
			continue
		}
		if err != nil || got.Localpart() != tc.local || got.ServerName() != tc.server {
			t.Errorf("ParseRoomAlias(%q) = %q (%q, %q), %v", tc.in, got, got.Localpart(), got.ServerName(), err)
		}
	}
}

func TestErrorQuotesInput(t *testing.T) {
	_, err := ParseUserID("@bad")
	if err == nil || err.Error() != `"@bad": invalid user ID` {
		t.Errorf("error = %v", err)
	}
}
