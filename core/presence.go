package core

import (
	"context"
	"encoding/json"
	"time"
)

// Presence states.
const (
	PresenceOnline      = "online"
	PresenceUnavailable = "unavailable"
	PresenceOffline     = "offline"
)

// IdleAfter is how long after their last activity an online user is shown
// as unavailable (the spec's "idle timeout").
const IdleAfter = 5 * time.Minute

// ValidPresence reports whether s is one of the three presence states.
func ValidPresence(s string) bool {
	return s == PresenceOnline || s == PresenceUnavailable || s == PresenceOffline
}

// Presence is a user's presence as stored.
type Presence struct {
	UserID    string
	Presence  string
	StatusMsg *string
	// LastActiveTS is when the user was last active, in milliseconds
	// (0 when never).
	LastActiveTS int64
}

// Shown returns the presence state and currently_active flag to show at
// now: an online user idle for longer than IdleAfter shows as unavailable.
func (p Presence) Shown(now time.Time) (state string, currentlyActive bool) {
	if p.Presence != PresenceOnline {
		return p.Presence, false
	}
	if p.LastActiveTS > 0 && now.UnixMilli()-p.LastActiveTS > IdleAfter.Milliseconds() {
		return PresenceUnavailable, false
	}
	return PresenceOnline, true
}

// Content is the content of an m.presence event for p at now (also the
// body of GET /presence/{userId}/status): the shown state, last_active_ago,
// currently_active for an online user, and status_msg when set.
func (p Presence) Content(now time.Time) json.RawMessage {
	state, active := p.Shown(now)
	c := map[string]any{"presence": state}
	if p.LastActiveTS > 0 {
		c["last_active_ago"] = max(0, now.UnixMilli()-p.LastActiveTS)
	}
	if state == PresenceOnline {
		c["currently_active"] = active
	}
	if p.StatusMsg != nil {
		c["status_msg"] = *p.StatusMsg
	}
	b, _ := json.Marshal(c)
	return b
}

// PresenceStore keeps users' presence, each visible change taking a new
// position in the presence stream /sync reads.
type PresenceStore interface {
	// SetPresence sets userID's presence state and status message (nil
	// clears it), as PUT /presence/{userId}/status does, and counts as
	// activity when the state is online. It returns an error wrapping
	// ErrInvalidParam for an unknown state.
	SetPresence(ctx context.Context, userID, state string, statusMsg *string) error
	// Presence returns userID's presence. It returns an error wrapping
	// ErrNotFound if none was ever recorded.
	Presence(ctx context.Context, userID string) (Presence, error)
}

// PresenceActivity corrects when a user was last active: the presence of
// a remote user, set as another server's m.presence EDU gives it, counts
// from its last_active_ago, not from the moment it arrived.
type PresenceActivity interface {
	// SetLastActive sets userID's last activity to ts (milliseconds); it
	// changes nothing for a user with no presence recorded.
	SetLastActive(ctx context.Context, userID string, ts int64) error
}

// TypingStore keeps who is typing in which room (in memory).
type TypingStore interface {
	// SetTyping marks userID as typing in roomID for timeout, or as no
	// longer typing.
	SetTyping(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error
}
