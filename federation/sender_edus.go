package federation

import (
	"context"
	"time"

	"hearth.dev/hearth/core"
)

// ServersFunc returns the other servers with a member joined to a room
// (core/room's Federation.ServersInRoom).
type ServersFunc func(ctx context.Context, roomID string) ([]string, error)

// fanOut queues an EDU for every other server in roomID. Failures are
// logged: the local change it reports has happened.
func (s *Sender) fanOut(ctx context.Context, servers ServersFunc, roomID, eduType string, content any) {
	dests, err := servers(ctx, roomID)
	if err != nil {
		s.o.Logger.ErrorContext(ctx, "federation sender: servers in room", "room_id", roomID, "err", err)
		return
	}
	for _, d := range dests {
		if err := s.SendEDU(ctx, d, eduType, content); err != nil {
			s.o.Logger.ErrorContext(ctx, "federation sender: queue EDU", "destination", d, "edu_type", eduType, "err", err)
		}
	}
}

// TypingOut is the client API's typing service with federation: a local
// user's typing change also goes, as an m.typing EDU, to every other
// server in the room.
type TypingOut struct {
	core.TypingStore
	Sender  *Sender
	Servers ServersFunc
}

// SetTyping implements core.TypingStore.
func (t TypingOut) SetTyping(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error {
	if err := t.TypingStore.SetTyping(ctx, roomID, userID, typing, timeout); err != nil {
		return err
	}
	t.Sender.fanOut(ctx, t.Servers, roomID, EDUTyping, map[string]any{"room_id": roomID, "user_id": userID, "typing": typing})
	return nil
}

// ReceiptsOut is the client API's receipt service with federation: a
// local user's public read receipt that moved also goes, as an m.receipt
// EDU, to every other server in the room. Private receipts never leave.
type ReceiptsOut struct {
	core.ReceiptStore
	Sender  *Sender
	Servers ServersFunc
}

// SetReceipt implements core.ReceiptStore.
func (r ReceiptsOut) SetReceipt(ctx context.Context, rc core.Receipt) (bool, error) {
	changed, err := r.ReceiptStore.SetReceipt(ctx, rc)
	if err != nil || !changed || rc.Type != core.ReceiptRead {
		return changed, err
	}
	data := map[string]any{"ts": rc.TS}
	if rc.ThreadID != "" {
		data["thread_id"] = rc.ThreadID
	}
	content := map[string]any{rc.RoomID: map[string]any{rc.Type: map[string]any{
		rc.UserID: map[string]any{"event_ids": []string{rc.EventID}, "data": data},
	}}}
	r.Sender.fanOut(ctx, r.Servers, rc.RoomID, EDUReceipt, content)
	return changed, nil
}
