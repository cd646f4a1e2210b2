package core

import (
	"context"
	"encoding/json"
)

// Profile field names with a defined meaning (client-server API,
// "Profiles").
const (
	ProfileDisplayName = "displayname"
	ProfileAvatarURL   = "avatar_url"
	ProfileTimeZone    = "m.tz"
)

// MaxProfileSize bounds a user's whole profile, as JSON (the spec: "the
// total profile MUST be under 64 KiB"), and MaxProfileKeyLen a field name.
const (
	MaxProfileSize   = 64 * 1024
	MaxProfileKeyLen = 255
)

// The profile errors of PUT /profile/{userId}/{keyName}.
var (
	ErrProfileTooLarge = newError("M_PROFILE_TOO_LARGE", 400, "The profile would exceed 64 KiB")
	ErrKeyTooLarge     = newError("M_KEY_TOO_LARGE", 400, "The profile key exceeds 255 bytes")
)

// ProfileStore keeps the profiles of local users: named fields holding any
// JSON value (display name, avatar URL, time zone, custom fields).
type ProfileStore interface {
	// Profile returns userID's fields by name; a user without any has an
	// empty map (not an error).
	Profile(ctx context.Context, userID string) (map[string]json.RawMessage, error)
	// SetProfileField sets one field to value (valid JSON). It returns an
	// error wrapping ErrProfileTooLarge if the profile would exceed
	// MaxProfileSize, and ErrKeyTooLarge for a key longer than
	// MaxProfileKeyLen.
	SetProfileField(ctx context.Context, userID, key string, value json.RawMessage) error
	// DeleteProfileField removes one field; removing an absent field
	// changes nothing.
	DeleteProfileField(ctx context.Context, userID, key string) error
}

// ProfileChangeFunc is told that userID's display name or avatar URL
// changed ("" when unset), so their m.room.member events in joined rooms
// can follow.
type ProfileChangeFunc func(ctx context.Context, userID, displayName, avatarURL string) error

// ProfileNames reads the display name and avatar URL out of profile fields
// ("" for a field that is absent or not a string).
func ProfileNames(fields map[string]json.RawMessage) (displayName, avatarURL string) {
	var s string
	if json.Unmarshal(fields[ProfileDisplayName], &s) == nil {
		displayName = s
	}
	s = ""
	if json.Unmarshal(fields[ProfileAvatarURL], &s) == nil {
		avatarURL = s
	}
	return displayName, avatarURL
}
