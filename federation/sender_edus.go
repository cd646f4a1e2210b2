package federation

import (
	"context"
	"encoding/json"
	"strings"
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

// ToDeviceOut is the client API's to-device service with federation:
// messages for local devices are queued here as before; those for users
// of other servers go to each server as one m.direct_to_device EDU, whose
// message_id is the sending device's transaction (the receiver queues a
// repeated one once). A transaction already used sends nothing anywhere.
type ToDeviceOut struct {
	core.ToDeviceStore
	Sender     *Sender
	ServerName string
}

// SendToDevice implements core.ToDeviceStore.
func (t ToDeviceOut) SendToDevice(ctx context.Context, txn core.TxnID, eventType string, targets []core.ToDeviceTarget) (bool, error) {
	var local []core.ToDeviceTarget
	remote := map[string]map[string]map[string]json.RawMessage{} // server -> user -> device -> content
	for _, tg := range targets {
		_, server, ok := strings.Cut(tg.UserID, ":")
		if !ok || server == t.ServerName {
			local = append(local, tg)
			continue
		}
		if remote[server] == nil {
			remote[server] = map[string]map[string]json.RawMessage{}
		}
		if remote[server][tg.UserID] == nil {
			remote[server][tg.UserID] = map[string]json.RawMessage{}
		}
		remote[server][tg.UserID][tg.DeviceID] = tg.Content
	}
	fresh, err := t.ToDeviceStore.SendToDevice(ctx, txn, eventType, local)
	if err != nil || !fresh {
		return fresh, err
	}
	messageID := txn.DeviceID + "/" + txn.TxnID
	for server, msgs := range remote {
		content := map[string]any{"sender": txn.UserID, "type": eventType, "message_id": messageID, "messages": msgs}
		if err := t.Sender.SendEDU(ctx, server, EDUDirectToDevice, content); err != nil {
			return true, err
		}
	}
	return true, nil
}
