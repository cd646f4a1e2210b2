package room

import (
	"context"
	"encoding/json"
	"net/url"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
)

// Knocking (room versions 7+): a user asks to be let into a room whose
// join rule is knock (or knock_restricted); a member who may invite then
// invites them.

// Knock sends userID's knock on roomID, a room of this server's, and
// returns the knock event's ID. The auth rules refuse a knock on a room
// whose join rule does not allow one (M_FORBIDDEN).
func (p *Pipeline) Knock(ctx context.Context, roomID, userID, reason string) (string, error) {
	if _, err := p.Version(ctx, roomID); err != nil {
		return "", forbiddenIfUnknown(err, roomID)
	}
	c, err := p.memberContent(ctx, eventauth.MembershipKnock, userID, reason)
	if err != nil {
		return "", err
	}
	return p.sendMembership(ctx, roomID, userID, userID, c)
}

// KnockRemote knocks on a room this server is not in through one of
// servers (make_knock, send_knock), as JoinRemote joins, and keeps the
// knock as an outlier with the room's stripped state in
// unsigned.knock_room_state, which /sync shows in rooms.knock. It returns
// the knock event's ID.
func (f *Federation) KnockRemote(ctx context.Context, roomID, userID, reason string, servers []string) (string, error) {
	p := f.p
	if f.cfg.Client == nil {
		return "", core.ErrNotFound.WithMessage("room %s is on another server, and this server has no federation client", roomID)
	}
	if !p.isLocal(userID) {
		return "", core.ErrForbidden.WithMessage("%s is not a user of this server", userID)
	}
	if _, err := id.ParseRoomID(roomID); err != nil {
		return "", core.ErrInvalidParam.WithMessage("%q is not a room ID", roomID)
	}
	servers = joinCandidates(p.cfg.ServerName, roomID, servers)
	if len(servers) == 0 {
		return "", core.ErrNotFound.WithMessage("no server to knock on %s through: give server_name or via", roomID)
	}
	return f.throughResidents(ctx, "knock", roomID, servers, func(server string) (string, error) {
		return f.knockThrough(ctx, server, roomID, userID, reason)
	})
}

// knockThrough does make_knock and send_knock with one resident server.
func (f *Federation) knockThrough(ctx context.Context, server, roomID, userID, reason string) (string, error) {
	p := f.p
	v, js, ev, err := f.makeMembership(ctx, server, eventauth.MembershipKnock, roomID, userID, reason)
	if err != nil {
		return "", err
	}
	var resp struct {
		KnockRoomState []json.RawMessage `json:"knock_room_state"`
	}
	path := "/_matrix/federation/v1/send_knock/" + url.PathEscape(roomID) + "/" + url.PathEscape(ev.EventID)
	if err := f.cfg.Client.Request(ctx, server, "PUT", path, json.RawMessage(js), &resp); err != nil {
		return "", err
	}
	if err := p.stores.Rooms.StoreRoom(ctx, core.RoomInfo{RoomID: roomID, RoomVersion: string(v.ID)}); err != nil {
		return "", err
	}
	state := resp.KnockRoomState
	if state == nil {
		state = []json.RawMessage{}
	}
	unsigned, err := json.Marshal(map[string]any{"knock_room_state": state})
	if err != nil {
		return "", err
	}
	stored := *ev
	stored.Unsigned = unsigned
	sjs, err := stored.MarshalFor(v)
	if err != nil {
		return "", core.ErrBadJSON.WithMessage("knock_room_state from %s: %v", server, err)
	}
	ne := newEvent(v, ev, sjs, Metadata{}, p.now())
	ne.Outlier, ne.OutOfBandMembership = true, true
	if _, err := p.stores.Events.PersistEvents(ctx, []core.NewEvent{ne}, core.PersistOptions{}); err != nil {
		return "", err
	}
	p.notify()
	return ev.EventID, nil
}
