package appservice

import (
	"strings"
	"testing"
)

func reg(file, id, as, hs, sender string, users ...Namespace) *Registration {
	return &Registration{File: file, ID: id, ASToken: as, HSToken: hs, SenderLocalpart: sender,
		Namespaces: Namespaces{Users: users}}
}

func TestNewSetRefusesBadRegistrations(t *testing.T) {
	ok := func() *Registration {
		return reg("good.yaml", "good", "good-as", "good-hs", "goodbot", Namespace{Exclusive: true, Regex: `@_good_.*:example\.org`})
	}
	tests := []struct {
		name string
		bad  *Registration
		want string // in the error, besides the bad file's name
	}{
		{"no id", reg("bad.yaml", "", "a", "h", "bot"), "id is missing"},
		{"no as_token", reg("bad.yaml", "x", "", "h", "bot"), "as_token is missing"},
		{"no hs_token", reg("bad.yaml", "x", "a", "", "bot"), "hs_token is missing"},
		{"same tokens", reg("bad.yaml", "x", "a", "a", "bot"), "the same"},
		{"no sender", reg("bad.yaml", "x", "a", "h", ""), "sender_localpart is missing"},
		{"bad sender", reg("bad.yaml", "x", "a", "h", "Bad Bot"), "sender_localpart"},
		{"bad regex", reg("bad.yaml", "x", "a", "h", "bot", Namespace{Regex: `@(unclosed`}), "regex"},
		{"empty regex", reg("bad.yaml", "x", "a", "h", "bot", Namespace{Regex: ``}), "regex is missing"},
		{"duplicate id", reg("bad.yaml", "good", "a", "h", "bot"), "good.yaml"},
		{"duplicate as_token", reg("bad.yaml", "x", "good-as", "h", "bot"), "as_token"},
		{"as_token is another's hs_token", reg("bad.yaml", "x", "good-hs", "h", "bot"), "as_token"},
		{"duplicate hs_token", reg("bad.yaml", "x", "a", "good-hs", "bot"), "hs_token"},
		{"same sender", reg("bad.yaml", "x", "a", "h", "goodbot"), "sender"},
		{"identical exclusive regex", reg("bad.yaml", "x", "a", "h", "bot", Namespace{Exclusive: true, Regex: `@_good_.*:example\.org`}), "overlaps"},
		{"exclusive literal in exclusive regex", reg("bad.yaml", "x", "a", "h", "bot", Namespace{Exclusive: true, Regex: `@_good_one:example\.org`}), "overlaps"},
		{"sender in another's exclusive namespace", reg("bad.yaml", "x", "a", "h", "_good_bot"), "sender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSet("example.org", []*Registration{ok(), tt.bad})
			if err == nil {
				t.Fatalf("NewSet accepted %+v", tt.bad)
			}
			if !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewSet error %q, want one naming bad.yaml and %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "application service good.yaml:") {
				t.Errorf("NewSet blamed the good file: %q", err)
			}
		})
	}
}

func TestNewSetOneErrorPerBadFile(t *testing.T) {
	_, err := NewSet("example.org", []*Registration{
		reg("a.yaml", "", "a", "h", "bot"),
		reg("b.yaml", "b", "b-as", "b-hs", "bbot", Namespace{Regex: `[`}),
		reg("c.yaml", "c", "c-as", "c-hs", "cbot"),
	})
	if err == nil {
		t.Fatal("NewSet accepted two bad files")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "a.yaml") || !strings.Contains(lines[1], "b.yaml") {
		t.Errorf("NewSet error %q, want one line for a.yaml and one for b.yaml", err)
	}
}

func TestNamespacesMatchWholeIDs(t *testing.T) {
	set, err := NewSet("example.org", []*Registration{
		reg("a.yaml", "a", "a-as", "a-hs", "abot", Namespace{Exclusive: true, Regex: `@_a_.*:example\.org`}),
		// Non-exclusive namespaces may overlap exclusive ones.
		reg("b.yaml", "b", "b-as", "b-hs", "bbot", Namespace{Regex: `@_a_.*:example\.org`}),
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := set.ByID("a"), set.ByID("b")
	for _, c := range []struct {
		user       string
		inA, exclA bool
	}{
		{"@_a_x:example.org", true, true},
		{"@abot:example.org", true, true},
		{"@x@_a_x:example.org", false, false},    // anchored at the start
		{"@_a_x:example.org.evil", false, false}, // and at the end
		{"@bbot:example.org", false, false},
	} {
		if got := a.IsUser(c.user); got != c.inA {
			t.Errorf("a.IsUser(%q) = %v, want %v", c.user, got, c.inA)
		}
		if got := a.ExclusiveUser(c.user); got != c.exclA {
			t.Errorf("a.ExclusiveUser(%q) = %v, want %v", c.user, got, c.exclA)
		}
	}
	if !b.IsUser("@_a_x:example.org") || set.ExclusiveUserOwner("@_a_x:example.org") != a {
		t.Error("b does not see a's exclusive users, or a does not own them")
	}
	if set.ByASToken("b-as") != b || set.ByASToken("b-hs") != nil || set.ByASToken("") != nil {
		t.Error("ByASToken finds the wrong service")
	}
}

// TestInterestedOnlyInLocalUsers checks that events of, and rooms with,
// users of other servers do not interest a service whose user regex
// matches them; local users, rooms and aliases do.
func TestInterestedOnlyInLocalUsers(t *testing.T) {
	set, err := NewSet("example.org", []*Registration{
		{File: "irc.yaml", ID: "irc", ASToken: "a", HSToken: "h", SenderLocalpart: "ircbot", Namespaces: Namespaces{
			Users:   []Namespace{{Regex: `@_irc_.*`}},
			Aliases: []Namespace{{Regex: `#_irc_.*:example\.org`}},
			Rooms:   []Namespace{{Regex: `!bridged:example\.org`}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := set.ByID("irc")
	str := func(s string) *string { return &s }
	none := func() []string { return nil }
	list := func(v ...string) func() []string { return func() []string { return v } }
	for _, c := range []struct {
		name             string
		ev               StreamEvent
		members, aliases func() []string
		want             bool
	}{
		{"local ghost sends", StreamEvent{RoomID: "!r:x", Sender: "@_irc_a:example.org"}, none, none, true},
		{"the bot sends", StreamEvent{RoomID: "!r:x", Sender: "@ircbot:example.org"}, none, none, true},
		{"remote look-alike sends", StreamEvent{RoomID: "!r:x", Sender: "@_irc_a:other.org"}, none, none, false},
		{"local ghost invited", StreamEvent{RoomID: "!r:x", Sender: "@u:other.org", StateKey: str("@_irc_b:example.org")}, none, none, true},
		{"remote look-alike invited", StreamEvent{RoomID: "!r:x", Sender: "@u:other.org", StateKey: str("@_irc_b:other.org")}, none, none, false},
		{"room with a local ghost", StreamEvent{RoomID: "!r:x", Sender: "@u:example.org"}, list("@u:example.org", "@_irc_c:example.org"), none, true},
		{"room with a remote look-alike", StreamEvent{RoomID: "!r:x", Sender: "@u:example.org"}, list("@u:example.org", "@_irc_c:other.org"), none, false},
		{"room in the namespace", StreamEvent{RoomID: "!bridged:example.org", Sender: "@u:other.org"}, none, none, true},
		{"room with an alias in the namespace", StreamEvent{RoomID: "!r:x", Sender: "@u:other.org"}, none, list("#_irc_chan:example.org"), true},
		{"room with another alias", StreamEvent{RoomID: "!r:x", Sender: "@u:other.org"}, none, list("#chan:example.org"), false},
	} {
		if got := r.Interested(c.ev, c.members, c.aliases); got != c.want {
			t.Errorf("%s: Interested = %v, want %v", c.name, got, c.want)
		}
	}
}
