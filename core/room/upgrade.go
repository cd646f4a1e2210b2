package room

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/roomversion"
)

// transferredState is the state an upgrade copies to the new room (the
// spec's recommended list, and the canonical alias, whose aliases move).
var transferredState = []string{
	"m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.avatar", "m.room.topic",
	"m.room.guest_access", "m.room.history_visibility", "m.room.join_rules", "m.room.canonical_alias",
}

// UpgradeRoom replaces roomID by a new room of version newVersion, as POST
// /rooms/{roomId}/upgrade describes ("Room Upgrades", server behaviour):
// userID must be allowed to send m.room.tombstone; the new room's create
// event names its predecessor and keeps the room type; the transferable
// state and the power levels are copied; local aliases move; the old room
// gets a tombstone, and its power levels, where userID may change them,
// stop others from talking and inviting. additionalCreators is only for
// versions with additional creators (12 and later). It returns the new
// room's ID.
func (p *Pipeline) UpgradeRoom(ctx context.Context, roomID, userID, newVersion string, additionalCreators []string) (string, error) {
	nv, err := roomversion.Lookup(roomversion.ID(newVersion))
	if err != nil {
		return "", core.ErrUnsupportedRoomVers.WithMessage("room version %q is not supported by this server", newVersion)
	}
	if len(additionalCreators) > 0 && !nv.PrivilegedCreators {
		return "", core.ErrInvalidParam.WithMessage("room version %s has no additional creators", nv.ID)
	}
	for _, u := range additionalCreators {
		if _, err := id.ParseUserID(u); err != nil {
			return "", core.ErrInvalidParam.WithMessage("additional_creators: %q is not a user ID", u)
		}
	}
	if _, err := p.Version(ctx, roomID); err != nil {
		return "", forbiddenIfUnknown(err, roomID)
	}
	ok, err := p.canSendState(ctx, roomID, userID, "m.room.tombstone")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", core.ErrForbidden.WithMessage("you may not upgrade %s: it needs the power to send m.room.tombstone", roomID)
	}

	// The state to carry over.
	filter := core.StateTypes(append(slices.Clone(transferredState), eventauth.TypeCreate, eventauth.TypePowerLevels)...)
	st, err := p.stores.State.CurrentState(ctx, roomID, filter)
	if err != nil {
		return "", err
	}
	evs, err := p.StateEvents(ctx, st)
	if err != nil {
		return "", err
	}
	content := map[string]json.RawMessage{}
	for _, e := range evs {
		if *e.PDU.StateKey == "" {
			content[e.PDU.Type] = e.PDU.Content
		}
	}
	creation := map[string]any{}
	predecessor := map[string]string{"room_id": roomID}
	if !nv.RoomIDFromCreateEvent {
		exts, err := p.ForwardExtremities(ctx, roomID)
		if err != nil {
			return "", err
		}
		if len(exts) > 0 {
			predecessor["event_id"] = exts[0]
		}
	}
	creation["predecessor"] = predecessor
	if t := contentString(content[eventauth.TypeCreate], "type"); t != "" {
		creation["type"] = t
	}
	if len(additionalCreators) > 0 {
		creation["additional_creators"] = additionalCreators
	}
	req := CreateRequest{Creator: userID, RoomVersion: newVersion, Preset: PresetPrivateChat, CreationContent: mustJSON(creation)}
	for _, typ := range transferredState {
		if c, ok := content[typ]; ok {
			req.InitialState = append(req.InitialState, StateProto{Type: typ, Content: c})
		}
	}
	// The power levels: the old room's, without the creators where
	// creators are not listed, and with the upgrading user able to send
	// the copied state meanwhile; the old levels follow at the end.
	var finalPL json.RawMessage
	if raw, ok := content[eventauth.TypePowerLevels]; ok {
		pl := map[string]json.RawMessage{}
		if json.Unmarshal(raw, &pl) == nil {
			users := map[string]json.RawMessage{}
			_ = json.Unmarshal(pl["users"], &users)
			if nv.PrivilegedCreators {
				for _, c := range append([]string{userID}, additionalCreators...) {
					delete(users, c)
				}
				pl["users"] = mustJSON(users)
				finalPL = mustJSON(pl)
				req.InitialState = append(req.InitialState, StateProto{Type: eventauth.TypePowerLevels, Content: finalPL})
			} else {
				finalPL = mustJSON(pl)
				temp := maps.Clone(users)
				temp[userID] = mustJSON(max(levelValue(users[userID], 0), 100, maxLevel(pl)))
				pl["users"] = mustJSON(temp)
				req.InitialState = append(req.InitialState, StateProto{Type: eventauth.TypePowerLevels, Content: mustJSON(pl)})
			}
		}
	}
	newRoom, err := p.CreateRoom(ctx, req)
	if err != nil {
		return "", err
	}
	if finalPL != nil && !nv.PrivilegedCreators {
		pr := Proto{Type: eventauth.TypePowerLevels, StateKey: new(string), Sender: userID, Content: finalPL}
		if _, err := p.Send(ctx, newRoom, pr, nil); err != nil {
			return "", err
		}
	}

	if err := p.moveAliases(ctx, roomID, newRoom); err != nil {
		return "", err
	}
	tomb := mustJSON(map[string]string{"body": "This room has been replaced", "replacement_room": newRoom})
	if _, err := p.Send(ctx, roomID, Proto{Type: "m.room.tombstone", StateKey: new(string), Sender: userID, Content: tomb}, nil); err != nil {
		return "", err
	}
	p.restrictOldRoom(ctx, roomID, userID, content)
	return newRoom, nil
}

// maxLevel is the highest level a power levels content requires for
// anything, so a user at it may send every copied event.
func maxLevel(pl map[string]json.RawMessage) int64 {
	var m int64
	for _, k := range []string{"state_default", "events_default", "ban", "kick", "redact", "invite"} {
		m = max(m, levelValue(pl[k], 0))
	}
	var events map[string]json.RawMessage
	_ = json.Unmarshal(pl["events"], &events)
	for _, v := range events {
		m = max(m, levelValue(v, 0))
	}
	return m
}

// moveAliases points the old room's local aliases, and its place in the
// published room directory, to the new room.
func (p *Pipeline) moveAliases(ctx context.Context, oldRoom, newRoom string) error {
	d := p.stores.Directory
	if d == nil {
		return nil
	}
	aliases, err := d.Aliases(ctx, oldRoom)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		_, creator, err := d.ResolveAlias(ctx, a)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := d.DeleteAlias(ctx, a); err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if err := d.CreateAlias(ctx, a, newRoom, creator); err != nil {
			return err
		}
	}
	info, err := p.stores.Rooms.Room(ctx, oldRoom)
	if err != nil || !info.IsPublic {
		return err
	}
	if err := d.SetPublished(ctx, newRoom, true); err != nil {
		return err
	}
	return d.SetPublished(ctx, oldRoom, false)
}

// restrictOldRoom raises the old room's events_default and invite levels
// to the greater of 50 and users_default + 1, and clears its canonical
// alias, where userID may. These are courtesies: failures are ignored.
func (p *Pipeline) restrictOldRoom(ctx context.Context, roomID, userID string, content map[string]json.RawMessage) {
	if raw, ok := content[eventauth.TypePowerLevels]; ok {
		pl := map[string]json.RawMessage{}
		if json.Unmarshal(raw, &pl) == nil {
			level := max(50, levelValue(pl["users_default"], 0)+1)
			if levelValue(pl["events_default"], 0) < level || levelValue(pl["invite"], 0) < level {
				pl["events_default"], pl["invite"] = mustJSON(level), mustJSON(level)
				_, _ = p.Send(ctx, roomID, Proto{Type: eventauth.TypePowerLevels, StateKey: new(string), Sender: userID, Content: mustJSON(pl)}, nil)
			}
		}
	}
	if _, ok := content[keyAlias.Type]; ok {
		_, _ = p.Send(ctx, roomID, Proto{Type: keyAlias.Type, StateKey: new(string), Sender: userID, Content: json.RawMessage("{}")}, nil)
	}
}
