package adminroom

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// leavesOnShutdown are the memberships a local user is removed from.
var leavesOnShutdown = []string{core.MembershipJoin, core.MembershipInvite, core.MembershipKnock}

// shutdown does the work of a delete task.
func (s *Service) shutdown(ctx context.Context, t *task, adminID string, req Request) error {
	rooms, store, log := s.cfg.Rooms, s.cfg.Store, s.cfg.Logger
	roomID := t.roomID
	s.update(t, func(t *task) { t.status = StatusActive })
	if req.Block {
		if err := store.SetRoomBlock(ctx, roomID, true, adminID); err != nil {
			return err
		}
	}
	if _, err := store.AdminRoom(ctx, roomID); errors.Is(err, core.ErrNotFound) {
		if req.Block {
			return nil // blocked ahead of time; nothing else to do
		}
		return core.ErrNotFound.WithMessage("Unknown room id %s", roomID)
	} else if err != nil {
		return err
	}

	var newRoom string
	if req.NewRoomUserID != "" {
		var err error
		if newRoom, err = s.createShutdownRoom(ctx, req); err != nil {
			return err
		}
		s.update(t, func(t *task) { t.result.NewRoomID = &newRoom })
	}

	members, err := store.LocalMembers(ctx, roomID)
	if err != nil {
		return err
	}
	for _, m := range members {
		if !slices.Contains(leavesOnShutdown, m.Membership) {
			continue
		}
		if err := rooms.Leave(ctx, roomID, m.UserID, ""); err != nil {
			log.WarnContext(ctx, "a local user could not leave a room being deleted", "room_id", roomID, "user_id", m.UserID, "err", err)
			s.update(t, func(t *task) { t.result.FailedToKickUsers = append(t.result.FailedToKickUsers, m.UserID) })
			continue
		}
		s.update(t, func(t *task) { t.result.KickedUsers = append(t.result.KickedUsers, m.UserID) })
		if err := rooms.Forget(ctx, roomID, m.UserID); err != nil {
			log.WarnContext(ctx, "forgetting a deleted room failed", "room_id", roomID, "user_id", m.UserID, "err", err)
		}
		if newRoom != "" && m.UserID != req.NewRoomUserID {
			if _, err := rooms.Join(ctx, newRoom, m.UserID, ""); err != nil {
				log.WarnContext(ctx, "joining the room replacing a deleted one failed", "room_id", newRoom, "user_id", m.UserID, "err", err)
			}
		}
	}

	aliases, err := store.LocalAliases(ctx, roomID)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if err := rooms.DeleteAlias(ctx, a, adminID, true); err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if newRoom != "" {
			if err := rooms.CreateAlias(ctx, a, newRoom, req.NewRoomUserID); err != nil {
				log.WarnContext(ctx, "moving an alias to the room replacing a deleted one failed", "alias", a, "err", err)
				continue
			}
		}
		s.update(t, func(t *task) { t.result.LocalAliases = append(t.result.LocalAliases, a) })
	}
	if err := rooms.SetVisibility(ctx, roomID, adminID, true, "private"); err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}

	if req.Purge != nil && !*req.Purge {
		return nil
	}
	if !req.ForcePurge {
		left, err := store.LocalMembers(ctx, roomID)
		if err != nil {
			return err
		}
		for _, m := range left {
			if m.Membership == core.MembershipJoin {
				return core.ErrUnknown.WithStatus(400).WithMessage("Users are still joined to this room")
			}
		}
	}
	if _, err := store.PurgeRoom(ctx, roomID); err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	rooms.ForgetRoom(roomID)
	return nil
}

// createShutdownRoom creates the room a delete moves local users into:
// public, new_room_user_id its admin, users_default -10 so the users moved
// in cannot speak, with the message as its first message.
func (s *Service) createShutdownRoom(ctx context.Context, req Request) (string, error) {
	name, message := DefaultRoomName, DefaultMessage
	if req.RoomName != nil {
		name = *req.RoomName
	}
	if req.Message != nil {
		message = *req.Message
	}
	newRoom, err := s.cfg.Rooms.CreateRoom(ctx, room.CreateRequest{
		Creator: req.NewRoomUserID, Preset: room.PresetPublicChat, Name: &name,
		PowerLevelContentOverride: json.RawMessage(`{"users_default":-10}`),
	})
	if err != nil {
		return "", err
	}
	content, err := json.Marshal(map[string]string{"msgtype": "m.text", "body": message})
	if err != nil {
		return "", err
	}
	if _, err := s.cfg.Rooms.Send(ctx, newRoom, room.Proto{Type: "m.room.message", Sender: req.NewRoomUserID, Content: content}, nil); err != nil {
		return "", err
	}
	return newRoom, nil
}
