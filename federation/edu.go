package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// EDU types (server-server API, "EDUs").
const (
	EDUTyping           = "m.typing"
	EDUReceipt          = "m.receipt"
	EDUPresence         = "m.presence"
	EDUDirectToDevice   = "m.direct_to_device"
	EDUDeviceListUpdate = "m.device_list_update"
	EDUSigningKeyUpdate = "m.signing_key_update"
)

// remoteTypingTimeout is how long a remote user stays typing without a
// new m.typing EDU (the EDU has no timeout; Synapse uses 30 s).
const remoteTypingTimeout = 30 * time.Second

// EDUServices are the core services EDUs are applied to. A nil service
// drops its EDUs.
type EDUServices struct {
	Typing   core.TypingStore
	Receipts core.ReceiptStore
	Presence core.PresenceStore
	// PresenceActivity, when set, dates a remote user's activity from the
	// EDU's last_active_ago.
	PresenceActivity core.PresenceActivity
	ToDevice         core.ToDeviceStore
	// IsJoined says whether a user is joined to a room: a remote user's
	// typing and receipts count only in rooms they are in.
	IsJoined core.JoinedFunc
	// DeviceLists records remote users' device list changes
	// (m.device_list_update, m.signing_key_update); nil drops them.
	DeviceLists core.RemoteDeviceLists
}

var errEDUNotFromOrigin = errors.New("the EDU's user does not belong to the origin")

// fromOrigin checks that userID is a user of origin.
func fromOrigin(userID, origin string) error {
	u, err := id.ParseUserID(userID)
	if err != nil {
		return err
	}
	if string(u.ServerName()) != origin {
		return fmt.Errorf("%w: %s", errEDUNotFromOrigin, userID)
	}
	return nil
}

func (e *EDUServices) apply(ctx context.Context, origin string, edu EDU) error {
	switch edu.Type {
	case EDUTyping:
		return e.typing(ctx, origin, edu.Content)
	case EDUReceipt:
		return e.receipt(ctx, origin, edu.Content)
	case EDUPresence:
		return e.presence(ctx, origin, edu.Content)
	case EDUDirectToDevice:
		return e.toDevice(ctx, origin, edu.Content)
	case EDUDeviceListUpdate:
		if up, ok := e.DeviceLists.(core.RemoteDeviceUpdates); ok {
			var u core.DeviceListUpdate
			if err := json.Unmarshal(edu.Content, &u); err != nil {
				return err
			}
			if err := fromOrigin(u.UserID, origin); err != nil {
				return err
			}
			if u.DeviceID == "" || u.StreamID <= 0 {
				return errors.New("m.device_list_update without device_id or stream_id")
			}
			return up.RemoteDeviceUpdate(ctx, u)
		}
		return e.deviceListUpdate(ctx, origin, edu.Content)
	case EDUSigningKeyUpdate:
		return e.deviceListUpdate(ctx, origin, edu.Content)
	}
	return fmt.Errorf("unknown EDU type %q", edu.Type)
}

func (e *EDUServices) joined(ctx context.Context, userID, roomID string) error {
	if e.IsJoined == nil {
		return errors.New("no membership check")
	}
	ok, err := e.IsJoined(ctx, userID, roomID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not in %s", userID, roomID)
	}
	return nil
}

func (e *EDUServices) typing(ctx context.Context, origin string, content json.RawMessage) error {
	var c struct {
		RoomID string `json:"room_id"`
		UserID string `json:"user_id"`
		Typing bool   `json:"typing"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if e.Typing == nil {
		return errors.New("no typing service")
	}
	if err := fromOrigin(c.UserID, origin); err != nil {
		return err
	}
	if err := e.joined(ctx, c.UserID, c.RoomID); err != nil {
		return err
	}
	return e.Typing.SetTyping(ctx, c.RoomID, c.UserID, c.Typing, remoteTypingTimeout)
}

func (e *EDUServices) receipt(ctx context.Context, origin string, content json.RawMessage) error {
	// {room_id: {receipt type: {user_id: {event_ids, data: {ts, thread_id}}}}}
	var c map[string]map[string]map[string]struct {
		EventIDs []string `json:"event_ids"`
		Data     struct {
			TS       int64  `json:"ts"`
			ThreadID string `json:"thread_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if e.Receipts == nil {
		return errors.New("no receipt service")
	}
	var errs []error
	for roomID, types := range c {
		for rtype, users := range types {
			if rtype != core.ReceiptRead {
				continue // private receipts never cross servers
			}
			for userID, r := range users {
				if err := fromOrigin(userID, origin); err != nil {
					errs = append(errs, err)
					continue
				}
				if err := e.joined(ctx, userID, roomID); err != nil {
					errs = append(errs, err)
					continue
				}
				for _, eventID := range r.EventIDs {
					_, err := e.Receipts.SetReceipt(ctx, core.Receipt{RoomID: roomID, UserID: userID, Type: rtype,
						EventID: eventID, ThreadID: r.Data.ThreadID, TS: r.Data.TS})
					if err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (e *EDUServices) presence(ctx context.Context, origin string, content json.RawMessage) error {
	var c struct {
		Push []struct {
			UserID        string  `json:"user_id"`
			Presence      string  `json:"presence"`
			StatusMsg     *string `json:"status_msg"`
			LastActiveAgo *int64  `json:"last_active_ago"`
		} `json:"push"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if e.Presence == nil {
		return errors.New("no presence service")
	}
	var errs []error
	for _, p := range c.Push {
		if err := fromOrigin(p.UserID, origin); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := e.Presence.SetPresence(ctx, p.UserID, p.Presence, p.StatusMsg); err != nil {
			errs = append(errs, err)
			continue
		}
		if e.PresenceActivity != nil && p.LastActiveAgo != nil && *p.LastActiveAgo > 0 {
			errs = append(errs, e.PresenceActivity.SetLastActive(ctx, p.UserID, time.Now().UnixMilli()-*p.LastActiveAgo))
		}
	}
	return errors.Join(errs...)
}

func (e *EDUServices) toDevice(ctx context.Context, origin string, content json.RawMessage) error {
	var c struct {
		Sender    string                                `json:"sender"`
		Type      string                                `json:"type"`
		MessageID string                                `json:"message_id"`
		Messages  map[string]map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if e.ToDevice == nil {
		return errors.New("no to-device service")
	}
	if err := fromOrigin(c.Sender, origin); err != nil {
		return err
	}
	if c.Type == "" || c.MessageID == "" {
		return errors.New("to-device EDU without type or message_id")
	}
	var targets []core.ToDeviceTarget
	for userID, devices := range c.Messages {
		for deviceID, msg := range devices {
			targets = append(targets, core.ToDeviceTarget{UserID: userID, DeviceID: deviceID, Content: msg})
		}
	}
	// The message ID is the sender's transaction: a repeated EDU queues
	// nothing twice.
	_, err := e.ToDevice.SendToDevice(ctx, core.TxnID{UserID: c.Sender, DeviceID: "", TxnID: "federation:" + origin + ":" + c.MessageID}, c.Type, targets)
	return err
}

// deviceListUpdate records that the EDU's user (one of origin's) changed
// devices or cross-signing keys. The keys themselves are not kept: local
// clients query them again, through user/keys/query.
func (e *EDUServices) deviceListUpdate(ctx context.Context, origin string, content json.RawMessage) error {
	var c struct {
		UserID string `json:"user_id"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if e.DeviceLists == nil {
		return errors.New("no device list service")
	}
	if err := fromOrigin(c.UserID, origin); err != nil {
		return err
	}
	return e.DeviceLists.RemoteDeviceListChanged(ctx, c.UserID)
}
