package core

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"strings"
)

// DirectoryUser is a user the user directory can show.
type DirectoryUser struct {
	UserID      string
	DisplayName string // "" when unset
	AvatarURL   string // "" when unset
	// SharesRoom says the user is joined to a room the searcher is joined
	// to.
	SharesRoom bool
}

// UserDirectoryStore finds the users a user directory search considers.
type UserDirectoryStore interface {
	// DirectoryUsers returns the active local users visible to searcher,
	// with their profile's display name and avatar URL, by user ID: those
	// joined to a room searcher is joined to (searcher left out), and those
	// joined to a room whose join rule is public or whose history is
	// world_readable (searcher included). An unknown searcher sees only the
	// second kind.
	DirectoryUsers(ctx context.Context, searcher string) ([]DirectoryUser, error)
}

// SearchDirectory returns the users among users that match term, best
// first, at most limit of them, and whether more matched. A user matches
// when each word of term occurs, case-insensitively, in their user ID or
// display name; a blank term matches nobody. The best matches are exact
// (the user ID, its localpart or the display name is the term), then
// prefixes (of the localpart, the display name or one of its words), then
// the rest; within each, users sharing a room with the searcher come first,
// then users with a display name, then with an avatar, then by user ID.
func SearchDirectory(users []DirectoryUser, term string, limit int) ([]DirectoryUser, bool) {
	words := strings.Fields(strings.ToLower(term))
	if len(words) == 0 || limit < 0 {
		return []DirectoryUser{}, false
	}
	whole := strings.Join(words, " ")
	type hit struct {
		u    DirectoryUser
		rank int
	}
	var hits []hit
	for _, u := range users {
		uid := strings.ToLower(u.UserID)
		name := strings.ToLower(u.DisplayName)
		if !allWordsIn(words, uid, name) {
			continue
		}
		local, _, _ := strings.Cut(strings.TrimPrefix(uid, "@"), ":")
		rank := 2
		switch {
		case whole == uid || whole == local || whole == name:
			rank = 0
		case strings.HasPrefix(local, whole) || strings.HasPrefix(uid, whole) || wordPrefix(name, whole):
			rank = 1
		}
		hits = append(hits, hit{u, rank})
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		return cmp.Or(
			cmp.Compare(a.rank, b.rank),
			compareTrueFirst(a.u.SharesRoom, b.u.SharesRoom),
			compareTrueFirst(a.u.DisplayName != "", b.u.DisplayName != ""),
			compareTrueFirst(a.u.AvatarURL != "", b.u.AvatarURL != ""),
			strings.Compare(a.u.UserID, b.u.UserID),
		) < 0
	})
	out := make([]DirectoryUser, 0, min(limit, len(hits)))
	for _, h := range hits[:min(limit, len(hits))] {
		out = append(out, h.u)
	}
	return out, len(hits) > limit
}

// allWordsIn reports whether every word occurs in one of the fields.
func allWordsIn(words []string, fields ...string) bool {
	for _, w := range words {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(f, w) }) {
			return false
		}
	}
	return true
}

// wordPrefix reports whether s, or one of its words, starts with prefix.
func wordPrefix(s, prefix string) bool {
	if strings.HasPrefix(s, prefix) {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && strings.HasPrefix(s[i+1:], prefix) {
			return true
		}
	}
	return false
}

// compareTrueFirst orders true before false.
func compareTrueFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}
