package core

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSearchDirectory(t *testing.T) {
	users := []DirectoryUser{
		{UserID: "@alice:example.org", DisplayName: "Alice Smith", AvatarURL: "mxc://x/a"},
		{UserID: "@al:example.org"},
		{UserID: "@bob:example.org", DisplayName: "Bobby Tables", SharesRoom: true},
		{UserID: "@malice:example.org", DisplayName: "Mallory"},
		{UserID: "@zed:example.org", DisplayName: "Sébastien Älice"},
		{UserID: "@smithy:example.org", SharesRoom: true},
		{UserID: "@carol:example.org", DisplayName: "al", SharesRoom: false},
	}
	ids := func(us []DirectoryUser) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(u.UserID, "@"), ":example.org"))
		}
		return out
	}
	for _, c := range []struct {
		term        string
		limit       int
		want        []string
		wantLimited bool
	}{
		// Exact: carol's display name and al's localpart are "al" (with a
		// display name first); prefixes: alice; the rest by substring.
		{"al", 10, []string{"carol", "al", "alice", "malice"}, false},
		{"AL", 10, []string{"carol", "al", "alice", "malice"}, false},
		{"al", 2, []string{"carol", "al"}, true},
		{"al", 0, []string{}, true},
		// Words each in the user ID or the display name.
		{"alice smi", 10, []string{"alice"}, false},
		{"smi", 10, []string{"smithy", "alice"}, false}, // both prefixes: sharing a room first
		{"älice", 10, []string{"zed"}, false},
		{"ÄLICE", 10, []string{"zed"}, false},
		{"example.org", 3, []string{"bob", "smithy", "alice"}, true}, // sharing a room, then display name and avatar
		{"@bob:example.org", 10, []string{"bob"}, false},
		{"tables", 10, []string{"bob"}, false},
		{"nobody", 10, []string{}, false},
		{"   ", 10, []string{}, false},
		{"", 10, []string{}, false},
		{"al", -1, []string{}, false},
	} {
		got, limited := SearchDirectory(users, c.term, c.limit)
		if diff := cmp.Diff(c.want, ids(got)); diff != "" || limited != c.wantLimited {
			t.Errorf("SearchDirectory(%q, %d): limited %v, want %v; (-want +got):\n%s", c.term, c.limit, limited, c.wantLimited, diff)
		}
	}
}

func FuzzSearchDirectory(f *testing.F) {
	f.Add("al", 3, "Alice Smith")
	f.Add(" a b ", 0, "")
	f.Add("\xff", 100, "\xfe\xff")
	f.Fuzz(func(t *testing.T, term string, limit int, name string) {
		users := []DirectoryUser{
			{UserID: "@alice:example.org", DisplayName: name},
			{UserID: "@bob:example.org", DisplayName: term},
			{UserID: "@x:y", SharesRoom: true},
		}
		got, limited := SearchDirectory(users, term, limit)
		if got == nil {
			t.Fatal("nil results")
		}
		if limit >= 0 && len(got) > limit {
			t.Fatalf("%d results over limit %d", len(got), limit)
		}
		if limit < 0 && (len(got) > 0 || limited) {
			t.Fatalf("a negative limit gave %d results", len(got))
		}
		seen := map[string]bool{}
		for _, u := range got {
			if seen[u.UserID] {
				t.Fatalf("%s twice", u.UserID)
			}
			seen[u.UserID] = true
			for _, w := range strings.Fields(strings.ToLower(term)) {
				if !strings.Contains(strings.ToLower(u.UserID), w) && !strings.Contains(strings.ToLower(u.DisplayName), w) {
					t.Fatalf("%s matched without %q", u.UserID, w)
				}
			}
		}
	})
}
