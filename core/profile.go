package core

import (
	"context"
	"encoding/json"
	"unicode/utf8"
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

// MaxDisplayNameLen bounds a display name and MaxAvatarURLLen an avatar
// URL, in characters, as Synapse does: both are copied into every
// m.room.member event of the user, which must stay under 64 KiB.
const (
	MaxDisplayNameLen = 256
	MaxAvatarURLLen   = 1000
)

// CheckProfileField checks the length of a display name or avatar URL
// (other fields, and values that are not strings, are not its business).
// It returns ErrInvalidParam, saying the limit, for one that is too long.
func CheckProfileField(key string, value json.RawMessage) error {
	limit := 0
	switch key {
	case ProfileDisplayName:
		limit = MaxDisplayNameLen
	case ProfileAvatarURL:
		limit = MaxAvatarURLLen
	default:
		return nil
	}
	var s string
	if json.Unmarshal(value, &s) != nil {
		return nil
	}
	if utf8.RuneCountInString(s) > limit {
		return ErrInvalidParam.WithMessage("%s is too long (at most %d characters)", key, limit)
	}
	return nil
}

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
	// MaxProfileSize, ErrKeyTooLarge for a key longer than
	// MaxProfileKeyLen, and the error of CheckProfileField for a display
	// name or avatar URL too long.
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
// ("" for a field that is absent, not a string, or longer than its limit:
// such a value, stored before the limits existed, would make each of the
// user's member events too large).
func ProfileNames(fields map[string]json.RawMessage) (displayName, avatarURL string) {
	var s string
	if json.Unmarshal(fields[ProfileDisplayName], &s) == nil && CheckProfileField(ProfileDisplayName, fields[ProfileDisplayName]) == nil {
		displayName = s
	}
	s = ""
	if json.Unmarshal(fields[ProfileAvatarURL], &s) == nil && CheckProfileField(ProfileAvatarURL, fields[ProfileAvatarURL]) == nil {
		avatarURL = s
	}
	return displayName, avatarURL
}
