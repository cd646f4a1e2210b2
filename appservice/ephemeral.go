package appservice

import (
	"context"
	"encoding/json"
	"time"

	"hearth.dev/hearth/core"
	as "hearth.dev/hearth/core/appservice"
)

// maxEphemeral bounds the ephemeral events kept for a service that is
// down; the oldest are dropped past it.
const maxEphemeral = 10000

// queueEphemeral adds edu to the queue of every service that receives
// ephemeral events and wants it. The queue is in the database: a service
// that is down, or a restart, loses none.
func (s *Sender) queueEphemeral(ctx context.Context, edu any, wants func(r *as.Registration) bool) {
	js, err := json.Marshal(edu)
	if err != nil {
		return
	}
	var services []string
	for _, r := range s.o.Services.All() {
		if r.URL != "" && r.WantsEphemeral() && wants(r) {
			services = append(services, r.ID)
		}
	}
	if len(services) == 0 {
		return
	}
	if err := s.o.Store.QueueEphemeral(ctx, services, js, maxEphemeral); err != nil {
		s.o.Logger.WarnContext(ctx, "application service: queueing an ephemeral event", "services", services, "err", err)
		return
	}
	for _, id := range services {
		s.wakeService(id)
	}
}

// TypingExpired tells the services interested in roomID that a timeout
// changed its typing users to users (core/typing's OnExpire hook; a
// change a user asked for goes through TypingOut).
func (s *Sender) TypingExpired(roomID string, users []string) {
	s.queueEphemeral(s.ctx, map[string]any{
		"type": "m.typing", "room_id": roomID, "content": map[string]any{"user_ids": users}}, s.inRooms(s.ctx, roomID))
}

// inRooms wants an ephemeral event for the services interested in one of
// rooms, as they are in the rooms' events.
func (s *Sender) inRooms(ctx context.Context, rooms ...string) func(r *as.Registration) bool {
	return func(r *as.Registration) bool {
		for _, roomID := range rooms {
			if s.roomInterests(ctx, r, roomID) {
				return true
			}
		}
		return false
	}
}

// roomInterests reports whether r is interested in roomID: the room is in
// its room namespaces, has an alias in its alias namespaces, or a joined
// member in its user namespaces.
func (s *Sender) roomInterests(ctx context.Context, r *as.Registration, roomID string) bool {
	if r.IsRoom(roomID) {
		return true
	}
	get := func(f func(context.Context, string) ([]string, error)) func() []string {
		return func() []string {
			v, err := f(ctx, roomID)
			if err != nil {
				s.o.Logger.WarnContext(ctx, "application service: room lookup", "room_id", roomID, "err", err)
			}
			return v
		}
	}
	return r.Interested(as.StreamEvent{RoomID: roomID}, get(s.o.Store.RoomMembers), get(s.o.Store.RoomAliases))
}

// TypingOut is the client API's typing service with application services:
// a local user's typing change also goes to the services interested in
// the room, as an m.typing event with the room's typing users.
type TypingOut struct {
	core.TypingStore
	Sender *Sender
	// Users returns who types in a room now.
	Users func(roomID string) []string
}

// SetTyping implements core.TypingStore.
func (t TypingOut) SetTyping(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error {
	if err := t.TypingStore.SetTyping(ctx, roomID, userID, typing, timeout); err != nil {
		return err
	}
	users := t.Users(roomID)
	if users == nil {
		users = []string{}
	}
	t.Sender.queueEphemeral(ctx, map[string]any{
		"type": "m.typing", "room_id": roomID, "content": map[string]any{"user_ids": users}}, t.Sender.inRooms(ctx, roomID))
	return nil
}

// ReceiptsOut is the client API's receipt service with application
// services: a receipt that moved goes, as an m.receipt event, to the
// services interested in the room, and a private one only to the
// services whose namespaces hold its user (application service API,
// "Pushing ephemeral data").
type ReceiptsOut struct {
	core.ReceiptStore
	Sender *Sender
}

// SetReceipt implements core.ReceiptStore.
func (r ReceiptsOut) SetReceipt(ctx context.Context, rc core.Receipt) (bool, error) {
	changed, err := r.ReceiptStore.SetReceipt(ctx, rc)
	if err != nil || !changed {
		return changed, err
	}
	var wants func(*as.Registration) bool
	switch rc.Type {
	case core.ReceiptRead:
		wants = r.Sender.inRooms(ctx, rc.RoomID)
	case core.ReceiptReadPrivate:
		wants = func(a *as.Registration) bool { return a.HasLocalUser(rc.UserID) }
	default:
		return changed, nil
	}
	data := map[string]any{"ts": rc.TS}
	if rc.ThreadID != "" {
		data["thread_id"] = rc.ThreadID
	}
	r.Sender.queueEphemeral(ctx, map[string]any{"type": "m.receipt", "room_id": rc.RoomID,
		"content": map[string]any{rc.EventID: map[string]any{rc.Type: map[string]any{rc.UserID: data}}}}, wants)
	return changed, nil
}

// PresenceOut is the presence service with application services: a
// user's presence goes, as an m.presence event, to the services whose
// namespaces hold the user and to those interested in one of the user's
// rooms.
type PresenceOut struct {
	core.PresenceStore
	Sender *Sender
	// Rooms returns the rooms a user is joined to.
	Rooms func(ctx context.Context, userID string) ([]string, error)
	Now   func() time.Time
}

// SetPresence implements core.PresenceStore.
func (p PresenceOut) SetPresence(ctx context.Context, userID, state string, statusMsg *string) error {
	if err := p.PresenceStore.SetPresence(ctx, userID, state, statusMsg); err != nil {
		return err
	}
	pr, err := p.PresenceStore.Presence(ctx, userID)
	if err != nil {
		return nil // stored; only the push is lost
	}
	rooms, err := p.Rooms(ctx, userID)
	if err != nil {
		p.Sender.o.Logger.WarnContext(ctx, "application service: presence: the user's rooms", "user", userID, "err", err)
	}
	inRooms := p.Sender.inRooms(ctx, rooms...)
	p.Sender.queueEphemeral(ctx, map[string]any{"type": "m.presence", "sender": userID, "content": pr.Content(p.Now())},
		func(r *as.Registration) bool { return r.HasLocalUser(userID) || inRooms(r) })
	return nil
}
