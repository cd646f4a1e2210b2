package room

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// maxInviteRoomState bounds the stripped state an invite may carry.
const maxInviteRoomState = 50

// ReceiveInvite takes in origin's invite of a local user (PUT
// /_matrix/federation/v2/invite): the m.room.member invite event raw
// (eventID in roomID, of room version version) and the stripped state of
// the room to show the invitee. It checks the event (format, origin's
// signature, an invite of a local user sent by one of origin's users),
// signs it as this server, records the invite so the invitee's /sync shows
// it with the stripped state, and returns the event with both signatures.
//
// It returns a *core.Error: M_INCOMPATIBLE_ROOM_VERSION (with
// room_version) for a version this server does not support, M_BAD_JSON for
// an event that is not such an invite, M_FORBIDDEN when it is not origin's
// to send.
func (f *Federation) ReceiveInvite(ctx context.Context, origin, roomID, eventID, version string, raw json.RawMessage, inviteRoomState []json.RawMessage) (json.RawMessage, error) {
	p := f.p
	v, err := roomversion.Lookup(roomversion.ID(version))
	if err != nil {
		return nil, core.ErrIncompatibleRoomVer.WithMessage("room version %q is not supported here", version).WithExtra("room_version", version)
	}
	in, err := f.checkIn(ctx, v, raw)
	if err != nil {
		if errors.Is(err, ErrPDUInvalid) || errors.Is(err, ErrPDUSignature) {
			return nil, core.ErrBadJSON.WithMessage("%v", err)
		}
		return nil, err
	}
	ev := in.ev
	var c struct {
		Membership string `json:"membership"`
	}
	json.Unmarshal(ev.Content, &c)
	switch {
	case ev.RoomID != roomID || ev.EventID != eventID:
		return nil, core.ErrBadJSON.WithMessage("the event is not %s in %s", eventID, roomID)
	case ev.Type != eventauth.TypeMember || ev.StateKey == nil || c.Membership != eventauth.MembershipInvite:
		return nil, core.ErrBadJSON.WithMessage("the event is not an invite")
	case !p.isLocal(*ev.StateKey):
		return nil, core.ErrBadJSON.WithMessage("%s is not a user of this server", *ev.StateKey)
	}
	if err := checkRemoteUser(origin, ev.Sender); err != nil {
		return nil, err
	}
	if err := f.checkACL(ctx, origin, roomID); err != nil {
		return nil, err // a room this server is in, whose ACL denies origin
	}
	verdict, err := p.cfg.Modules.UserMayInvite(ctx, ev.Sender, *ev.StateKey, roomID)
	if err != nil {
		return nil, err
	}
	if len(inviteRoomState) > maxInviteRoomState {
		inviteRoomState = inviteRoomState[:maxInviteRoomState]
	}
	if v.RoomIDFromCreateEvent {
		// The checks the spec asks for from room version 12 (MAY before):
		// the create event is there, and every entry is an event of the
		// room in the version's format.
		if err := checkInviteRoomState(v, roomID, inviteRoomState); err != nil {
			return nil, err
		}
	}
	// "The invited homeserver ... signs the event": our signature over the
	// event as it is (its content hash is checked above, so it stays).
	if err := signing.SignEvent(v, ev, p.cfg.ServerName, p.cfg.Key.ID, p.cfg.Key.Private); err != nil {
		return nil, buildError(err)
	}
	signed, err := ev.MarshalFor(v)
	if err != nil {
		return nil, err
	}
	if err := f.storeInvite(ctx, origin, v, ev, inviteRoomState); err != nil {
		return nil, err
	}
	p.notify()
	if verdict.AutoAccept {
		go f.autoAccept(roomID, *ev.StateKey, origin)
	}
	return signed, nil
}

// autoAccept joins userID to roomID after a module asked for its invite to
// be accepted. It runs once the invite is answered (the inviting server
// must have stored the invite before it lets the join through), and tries
// a few times.
func (f *Federation) autoAccept(roomID, userID, origin string) {
	log := f.cfg.Logger
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		time.Sleep(delay)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		// A room with events here is joined here; one known from the
		// invite only, through the inviting server.
		var err error
		if exts, xerr := f.p.ForwardExtremities(ctx, roomID); xerr == nil && len(exts) > 0 {
			_, err = f.p.Join(ctx, roomID, userID, "")
		} else {
			_, err = f.JoinRemote(ctx, roomID, userID, "", []string{origin})
		}
		cancel()
		if err == nil {
			log.Info("invite auto-accepted", "room", roomID, "user", userID)
			return
		}
		if attempt == 4 {
			log.Warn("auto-accepting an invite failed", "room", roomID, "user", userID, "err", err)
			return
		}
		delay *= 2
	}
}

// storeInvite records an invite to a room this server is not in as an
// out-of-band membership (an outlier that sets the invitee's membership),
// with the stripped state in unsigned.invite_room_state where /sync reads
// it. In a room the server is in, the invite is a state event like any
// other: it goes through the checks of receipt.
func (f *Federation) storeInvite(ctx context.Context, origin string, v *roomversion.Version, ev *pdu.PDU, inviteRoomState []json.RawMessage) error {
	p := f.p
	if known, err := p.Version(ctx, ev.RoomID); err == nil && known.ID == v.ID {
		if _, err := p.loadTip(ctx, ev.RoomID, v); err == nil {
			unlock := p.lockRoom(ev.RoomID)
			defer unlock()
			js, err := ev.MarshalFor(v)
			if err != nil {
				return err
			}
			err = f.receiveLocked(ctx, origin, &incoming{ev: ev, v: v, roomID: ev.RoomID, js: js})
			if errors.Is(err, ErrPDURejected) || errors.Is(err, ErrPDUSoftFailed) {
				return core.ErrForbidden.WithMessage("%v", err)
			}
			return err
		}
	}
	if err := p.stores.Rooms.StoreRoom(ctx, core.RoomInfo{RoomID: ev.RoomID, RoomVersion: string(v.ID)}); err != nil {
		return err
	}
	state := inviteRoomState
	if state == nil {
		state = []json.RawMessage{}
	}
	unsigned, err := json.Marshal(map[string]any{"invite_room_state": state})
	if err != nil {
		return err
	}
	stored := *ev
	stored.Unsigned = unsigned
	js, err := stored.MarshalFor(v)
	if err != nil {
		return core.ErrBadJSON.WithMessage("invite_room_state: %v", err)
	}
	ne := newEvent(v, ev, js, Metadata{}, p.now())
	ne.Outlier, ne.OutOfBandMembership = true, true
	_, err = p.stores.Events.PersistEvents(ctx, []core.NewEvent{ne}, core.PersistOptions{})
	return err
}

// checkInviteRoomState applies invite_room_state's validation: M_INVALID_PARAM
// unless the room's m.room.create is there and every entry is an event of
// the room in its version's format.
func checkInviteRoomState(v *roomversion.Version, roomID string, state []json.RawMessage) error {
	create := false
	for _, raw := range state {
		ev, err := pdu.Parse(v, raw)
		if err != nil {
			return core.ErrInvalidParam.WithMessage("invite_room_state: %v", err)
		}
		if roomIDOf(v, ev) != roomID && ev.RoomID != roomID {
			return core.ErrInvalidParam.WithMessage("invite_room_state holds an event of another room")
		}
		if ev.Type == eventauth.TypeCreate && ev.StateKey != nil && *ev.StateKey == "" {
			create = true
		}
	}
	if !create {
		return core.ErrInvalidParam.WithMessage("invite_room_state has no m.room.create")
	}
	return nil
}

// inviteStateKeys are the state events an invite carries to the invitee's
// server (invite_room_state), as full events.
var inviteStateKeys = core.StateKeys(
	core.StateKey{Type: eventauth.TypeCreate}, core.StateKey{Type: "m.room.join_rules"},
	core.StateKey{Type: "m.room.name"}, core.StateKey{Type: "m.room.avatar"},
	core.StateKey{Type: "m.room.topic"}, core.StateKey{Type: "m.room.canonical_alias"},
	core.StateKey{Type: "m.room.encryption"},
)

// InviteRemote has local user sender invite target, a user of another
// server, to roomID (server-server API, "Inviting to a room"): the invite
// is built here, sent to the target's server with invite_room_state, and
// persisted as that server signed it (both signatures). Inviting a user
// already invited changes nothing.
//
// It returns a *core.Error: M_FORBIDDEN when the auth rules refuse the
// invite or the target's server does, M_NOT_FOUND-style errors for a room
// the server does not know, M_UNAVAILABLE when the target's server cannot
// be reached.
func (f *Federation) InviteRemote(ctx context.Context, roomID, sender, target, reason string, isDirect bool) error {
	p := f.p
	if f.cfg.Client == nil {
		return core.ErrForbidden.WithMessage("inviting %s needs a federation client", target)
	}
	if p.isLocal(target) {
		return p.Invite(ctx, roomID, sender, target, reason, isDirect)
	}
	if _, err := checkRemoteTarget(target); err != nil {
		return err
	}
	if _, err := p.Version(ctx, roomID); err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	m, err := p.membershipOf(ctx, roomID, target)
	if err != nil {
		return err
	}
	if m.Membership == eventauth.MembershipInvite {
		return nil
	}
	if _, err := p.cfg.Modules.UserMayInvite(ctx, sender, target, roomID); err != nil {
		return err
	}
	c, err := p.memberContent(ctx, eventauth.MembershipInvite, target, reason)
	if err != nil {
		return err
	}
	if isDirect {
		c["is_direct"] = true
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	t := target
	pr := Proto{Type: eventauth.TypeMember, StateKey: &t, Sender: sender, Content: raw,
		countersign: func(ctx context.Context, v *roomversion.Version, ev *pdu.PDU, js []byte) (*pdu.PDU, []byte, error) {
			return f.sendInvite(ctx, v, ev, js)
		}}
	_, err = p.Send(ctx, roomID, pr, nil)
	return forbiddenIfUnknown(err, roomID)
}

// checkRemoteTarget parses a remote user ID and returns its server.
func checkRemoteTarget(userID string) (string, error) {
	u, err := id.ParseUserID(userID)
	if err != nil {
		return "", core.ErrInvalidParam.WithMessage("%q is not a user ID", userID)
	}
	return string(u.ServerName()), nil
}

// sendInvite sends the built invite ev to the invitee's server and returns
// the event it signed.
func (f *Federation) sendInvite(ctx context.Context, v *roomversion.Version, ev *pdu.PDU, js []byte) (*pdu.PDU, []byte, error) {
	server, err := checkRemoteTarget(*ev.StateKey)
	if err != nil {
		return nil, nil, err
	}
	roomState, err := f.strippedState(ctx, ev.RoomID)
	if err != nil {
		return nil, nil, err
	}
	body := map[string]any{"room_version": string(v.ID), "event": json.RawMessage(js), "invite_room_state": roomState}
	var resp struct {
		Event json.RawMessage `json:"event"`
	}
	path := "/_matrix/federation/v2/invite/" + url.PathEscape(ev.RoomID) + "/" + url.PathEscape(ev.EventID)
	if err := f.cfg.Client.Request(ctx, server, "PUT", path, body, &resp); err != nil {
		var me *core.Error
		if errors.As(err, &me) {
			return nil, nil, core.ErrForbidden.WithMessage("%s refused the invite: %s", server, me.Message)
		}
		return nil, nil, core.ErrUnavailable.WithMessage("could not reach %s to invite %s", server, *ev.StateKey)
	}
	signed, err := pdu.Parse(v, resp.Event)
	if err != nil || signed.EventID != ev.EventID {
		return nil, nil, core.ErrUnavailable.WithMessage("%s answered the invite with another event", server)
	}
	if err := signing.VerifyEventSignedBy(v, signed, server, f.keyLookup(ctx)); err != nil {
		return nil, nil, core.ErrUnavailable.WithMessage("%s's signature of the invite does not verify", server)
	}
	signed.Unsigned = nil
	out, err := signed.MarshalFor(v)
	if err != nil {
		return nil, nil, err
	}
	return signed, out, nil
}

// strippedState returns the room's current create, join rules, name,
// avatar, topic, canonical alias and encryption events, as full events
// (what invite_room_state and knock_room_state carry since v1.16).
func (f *Federation) strippedState(ctx context.Context, roomID string) ([]json.RawMessage, error) {
	p := f.p
	state, err := p.stores.State.CurrentState(ctx, roomID, inviteStateKeys)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return nil, err
	}
	ids := make([]string, 0, len(state))
	for _, id := range state {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	stored, err := p.stores.Events.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(stored))
	for _, id := range ids {
		if se := stored[id]; se != nil {
			out = append(out, se.JSON)
		}
	}
	return out, nil
}

// CreateRoom is Pipeline.CreateRoom with invitees on other servers: the
// room is created with the local invitees' invites (and every invitee's
// power in the trusted_private_chat preset), then each remote invitee is
// invited through their server, as InviteRemote does. The room exists
// once its first write is done, so an invite that fails then (the
// invitee's server unreachable or refusing) does not fail the request:
// it is logged, and the creator can invite again.
func (f *Federation) CreateRoom(ctx context.Context, req CreateRequest) (string, error) {
	req.remoteInvites = f.cfg.Client != nil
	roomID, remote, err := f.p.createRoom(ctx, req)
	if err != nil {
		return "", err
	}
	for _, u := range remote {
		if err := f.InviteRemote(ctx, roomID, req.Creator, u, "", req.IsDirect); err != nil {
			f.cfg.Logger.Warn("createRoom: inviting a remote user failed", "room_id", roomID, "user_id", u, "err", err)
		}
	}
	return roomID, nil
}
