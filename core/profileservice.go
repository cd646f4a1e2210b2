package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
)

// ProfileService changes local users' profiles for the client profile API
// and the admin user API alike: it saves the fields through Store and,
// when the display name or avatar URL changed, follows them into the
// user's m.room.member events through Changed (the room pipeline's
// ProfileChanged), the one path for both.
type ProfileService struct {
	Store   ProfileStore
	Changed ProfileChangeFunc
	// Logger receives failures to update the rooms (the profile is saved
	// all the same); nil uses slog.Default().
	Logger *slog.Logger
}

// inRooms reports whether a change of key reaches member events.
func inRooms(key string) bool { return key == ProfileDisplayName || key == ProfileAvatarURL }

// checkProfileValue checks a value the client profile API sets:
// displayname, avatar_url and m.tz must be strings, avatar_url an mxc://
// URI (or "" to clear it); custom fields take any JSON value.
func checkProfileValue(key string, v json.RawMessage) error {
	switch key {
	case ProfileDisplayName, ProfileAvatarURL, ProfileTimeZone:
	default:
		return nil
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ErrBadJSON.WithMessage("%s must be a string", key)
	}
	if key == ProfileAvatarURL && s != "" && !strings.HasPrefix(s, "mxc://") {
		return ErrInvalidParam.WithMessage("avatar_url must be an mxc:// URI")
	}
	return nil
}

// SetField sets one of userID's fields (PUT /profile/{userId}/{keyName}).
// It returns ErrBadJSON or ErrInvalidParam for a value of a known field
// that is not what the spec asks, and the store's errors.
func (s *ProfileService) SetField(ctx context.Context, userID, key string, value json.RawMessage) error {
	if err := checkProfileValue(key, value); err != nil {
		return err
	}
	if err := s.Store.SetProfileField(ctx, userID, key, value); err != nil {
		return err
	}
	if inRooms(key) {
		s.changed(ctx, userID)
	}
	return nil
}

// DeleteField removes one of userID's fields
// (DELETE /profile/{userId}/{keyName}).
func (s *ProfileService) DeleteField(ctx context.Context, userID, key string) error {
	if err := s.Store.DeleteProfileField(ctx, userID, key); err != nil {
		return err
	}
	if inRooms(key) {
		s.changed(ctx, userID)
	}
	return nil
}

// SetNames sets userID's display name and avatar URL as an admin does
// (nil keeps a field, "" removes it), then follows them into the user's
// member events once.
func (s *ProfileService) SetNames(ctx context.Context, userID string, displayName, avatarURL *string) error {
	if displayName == nil && avatarURL == nil {
		return nil
	}
	for _, f := range []struct {
		key   string
		value *string
	}{{ProfileDisplayName, displayName}, {ProfileAvatarURL, avatarURL}} {
		if f.value == nil {
			continue
		}
		var err error
		if *f.value == "" {
			err = s.Store.DeleteProfileField(ctx, userID, f.key)
		} else {
			v, _ := json.Marshal(*f.value)
			err = s.Store.SetProfileField(ctx, userID, f.key, v)
		}
		if err != nil {
			return err
		}
	}
	s.changed(ctx, userID)
	return nil
}

// changed reads userID's saved names and hands them to Changed. A failure
// is logged: the profile itself is saved.
func (s *ProfileService) changed(ctx context.Context, userID string) {
	fields, err := s.Store.Profile(ctx, userID)
	if err == nil {
		name, avatar := ProfileNames(fields)
		err = s.Changed(ctx, userID, name, avatar)
	}
	if err != nil {
		log := s.Logger
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(ctx, "updating room memberships after a profile change", "user", userID, "err", err)
	}
}
