package room

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
)

// notInRoom is the error for acting in a room the user is not in (or the
// server does not know: the two are not told apart).
func notInRoom(roomID string) error {
	return core.ErrForbidden.WithMessage("you are not in room %s", roomID)
}

// forbiddenIfUnknown turns "unknown room" into notInRoom.
func forbiddenIfUnknown(err error, roomID string) error {
	if errors.Is(err, core.ErrNotFound) {
		return notInRoom(roomID)
	}
	return err
}

// isRemoteRoom reports whether roomID names another server (room versions
// 1–11; version 12 room IDs name no server).
func (p *Pipeline) isRemoteRoom(roomID string) bool {
	server, ok := id.RoomID(roomID).ServerName()
	return ok && string(server) != p.cfg.ServerName
}

// sendMembership sends an m.room.member event from sender about target.
func (p *Pipeline) sendMembership(ctx context.Context, roomID, sender, target string, content map[string]any) (string, error) {
	raw, err := json.Marshal(content)
	if err != nil {
		return "", err
	}
	t := target
	return p.Send(ctx, roomID, Proto{Type: eventauth.TypeMember, StateKey: &t, Sender: sender, Content: raw}, nil)
}

// memberContent is the content of a membership event, with the reason
// and, for a local target, the profile.
func (p *Pipeline) memberContent(ctx context.Context, membership, target, reason string) (map[string]any, error) {
	c := map[string]any{"membership": membership}
	if reason != "" {
		c["reason"] = reason
	}
	if p.cfg.Profiles != nil && p.isLocal(target) && (membership == eventauth.MembershipJoin || membership == eventauth.MembershipInvite) {
		fields, err := p.cfg.Profiles.Profile(ctx, target)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return nil, err
		}
		name, avatar := core.ProfileNames(fields)
		if name != "" {
			c["displayname"] = name
		}
		if avatar != "" {
			c["avatar_url"] = avatar
		}
	}
	return c, nil
}

// membershipOf returns userID's membership of roomID, "" when there is
// none.
func (p *Pipeline) membershipOf(ctx context.Context, roomID, userID string) (core.RoomMembership, error) {
	m, err := p.stores.State.Membership(ctx, roomID, userID)
	if errors.Is(err, core.ErrNotFound) {
		return core.RoomMembership{RoomID: roomID, UserID: userID}, nil
	}
	return m, err
}

// Join makes userID join roomID, a room whose DAG this server holds. It
// returns M_NOT_FOUND for a room the server does not know (joining a room
// on another server needs federation) and M_FORBIDDEN when the auth rules
// refuse the join. A user already joined with the same member content
// gets the current join event's ID, and nothing is sent.
func (p *Pipeline) Join(ctx context.Context, roomID, userID, reason string) (string, error) {
	if _, err := p.Version(ctx, roomID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			if p.isRemoteRoom(roomID) {
				return "", core.ErrNotFound.WithMessage("room %s is on another server; joining it needs federation, which this server does not offer yet", roomID)
			}
			return "", core.ErrNotFound.WithMessage("unknown room %s", roomID)
		}
		return "", err
	}
	if err := p.mayJoin(ctx, roomID, userID); err != nil {
		return "", err
	}
	c, err := p.memberContent(ctx, eventauth.MembershipJoin, userID, reason)
	if err != nil {
		return "", err
	}
	authoriser, err := p.JoinAuthoriser(ctx, roomID, userID)
	if me := (*core.Error)(nil); errors.As(err, &me) && me.ErrCode == core.ErrUnableToGrantJoin.ErrCode {
		// No other server to try: the client API's refusal is M_FORBIDDEN.
		return "", core.ErrForbidden.WithMessage("%s", me.Message)
	}
	if err != nil {
		return "", err
	}
	if authoriser != "" {
		// The event is signed by this server, the authoriser's.
		c["join_authorised_via_users_server"] = authoriser
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	// Joining again with the same content returns the current join (as
	// Synapse), so clients that retry do not flood the room.
	t := userID
	id, err := p.Send(ctx, roomID, Proto{Type: eventauth.TypeMember, StateKey: &t, Sender: userID, Content: raw, dedupe: true}, nil)
	if errors.Is(err, core.ErrNotFound) {
		// Known from an invite only: the room's DAG is on another server.
		return "", errNoFederation("joining " + roomID)
	}
	return id, err
}

// Invite has sender invite target to roomID. Inviting a user who is
// already invited changes nothing. Remote users cannot be invited yet.
func (p *Pipeline) Invite(ctx context.Context, roomID, sender, target, reason string, isDirect bool) error {
	if _, err := id.ParseUserID(target); err != nil {
		return core.ErrInvalidParam.WithMessage("%q is not a user ID", target)
	}
	if _, err := p.Version(ctx, roomID); err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	if !p.isLocal(target) {
		return errNoFederation("inviting " + target)
	}
	m, err := p.membershipOf(ctx, roomID, target)
	if err != nil {
		return err
	}
	if m.Membership == eventauth.MembershipInvite {
		return nil
	}
	verdict, err := p.cfg.Modules.UserMayInvite(ctx, sender, target, roomID)
	if err != nil {
		return err
	}
	c, err := p.memberContent(ctx, eventauth.MembershipInvite, target, reason)
	if err != nil {
		return err
	}
	if isDirect {
		c["is_direct"] = true
	}
	if _, err = p.sendMembership(ctx, roomID, sender, target, c); err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	if verdict.AutoAccept {
		// A module asked for the invite to be accepted: the invitee
		// joins. The invite stands if the join fails.
		if _, err := p.Join(ctx, roomID, target, ""); err != nil {
			slog.WarnContext(ctx, "auto-accepting an invite", "room", roomID, "user", target, "err", err)
		}
	}
	return nil
}

// mayJoin asks the modules whether userID may join roomID.
func (p *Pipeline) mayJoin(ctx context.Context, roomID, userID string) error {
	m, err := p.stores.State.Membership(ctx, roomID, userID)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	return p.cfg.Modules.UserMayJoinRoom(ctx, userID, roomID, m.Membership == eventauth.MembershipInvite)
}

// Leave makes userID leave roomID, or rejects an invite to it.
func (p *Pipeline) Leave(ctx context.Context, roomID, userID, reason string) error {
	if _, err := p.Version(ctx, roomID); err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	c, err := p.memberContent(ctx, eventauth.MembershipLeave, userID, reason)
	if err != nil {
		return err
	}
	_, err = p.sendMembership(ctx, roomID, userID, userID, c)
	if errors.Is(err, core.ErrNotFound) {
		// An invite from another server: rejecting it goes through the
		// inviting server.
		return errNoFederation("rejecting the invite to " + roomID)
	}
	return err
}

// Kick has sender remove target from roomID (or withdraw target's invite).
func (p *Pipeline) Kick(ctx context.Context, roomID, sender, target, reason string) error {
	return p.moderate(ctx, roomID, sender, target, reason, eventauth.MembershipLeave,
		[]string{eventauth.MembershipJoin, eventauth.MembershipInvite, eventauth.MembershipKnock}, "is not in the room")
}

// Ban has sender ban target from roomID.
func (p *Pipeline) Ban(ctx context.Context, roomID, sender, target, reason string) error {
	return p.moderate(ctx, roomID, sender, target, reason, eventauth.MembershipBan, nil, "")
}

// Unban has sender lift target's ban from roomID.
func (p *Pipeline) Unban(ctx context.Context, roomID, sender, target, reason string) error {
	return p.moderate(ctx, roomID, sender, target, reason, eventauth.MembershipLeave,
		[]string{eventauth.MembershipBan}, "is not banned")
}

// moderate sends a membership event by sender about another user whose
// current membership must be one of from (any when from is nil).
func (p *Pipeline) moderate(ctx context.Context, roomID, sender, target, reason, membership string, from []string, notFrom string) error {
	if _, err := id.ParseUserID(target); err != nil {
		return core.ErrInvalidParam.WithMessage("%q is not a user ID", target)
	}
	if _, err := p.Version(ctx, roomID); err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	if from != nil {
		m, err := p.membershipOf(ctx, roomID, target)
		if err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || m.Membership == f
		}
		if !ok {
			return core.ErrForbidden.WithMessage("%s %s", target, notFrom)
		}
	}
	c, err := p.memberContent(ctx, membership, target, reason)
	if err != nil {
		return err
	}
	_, err = p.sendMembership(ctx, roomID, sender, target, c)
	return forbiddenIfUnknown(err, roomID)
}

// Forget records that userID forgot roomID, which they have left or been
// banned from: the room stops appearing to them until their membership
// changes. It returns M_UNKNOWN (400) if they are still in the room,
// invited or knocking.
func (p *Pipeline) Forget(ctx context.Context, roomID, userID string) error {
	if p.stores.Directory == nil {
		return core.ErrUnrecognized.WithMessage("forgetting rooms is not available")
	}
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil {
		return err
	}
	switch m.Membership {
	case "":
		return nil // nothing to forget
	case eventauth.MembershipLeave, eventauth.MembershipBan:
		return p.stores.Directory.Forget(ctx, userID, roomID, m.EventID)
	}
	return core.ErrUnknown.WithStatus(400).WithMessage("you have not left room %s", roomID)
}

// Forgotten reports whether userID has forgotten roomID as of their
// current membership.
func (p *Pipeline) Forgotten(ctx context.Context, roomID, userID string) (bool, error) {
	if p.stores.Directory == nil {
		return false, nil
	}
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil || m.EventID == "" {
		return false, err
	}
	at, err := p.stores.Directory.ForgottenAt(ctx, userID, roomID)
	if err != nil {
		return false, err
	}
	return at != "" && at == m.EventID, nil
}

// ProfileChanged follows a local user's new display name and avatar URL
// ("" when unset) into the rooms they are joined to: in each, it sends a
// new join event carrying them, keeping the rest of the current one's
// content. It has the shape of core.ProfileChangeFunc. A room where the
// event cannot be sent does not stop the others; the first error is
// returned.
func (p *Pipeline) ProfileChanged(ctx context.Context, userID, displayName, avatarURL string) error {
	rooms, err := p.JoinedRooms(ctx, userID)
	if err != nil {
		return err
	}
	var first error
	for _, roomID := range rooms {
		if err := p.updateProfileIn(ctx, roomID, userID, displayName, avatarURL); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (p *Pipeline) updateProfileIn(ctx context.Context, roomID, userID, displayName, avatarURL string) error {
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil || m.Membership != eventauth.MembershipJoin {
		return err
	}
	c := map[string]json.RawMessage{}
	if evs, err := p.pdus(ctx, []string{m.EventID}); err != nil {
		return err
	} else if e := evs[m.EventID]; e != nil {
		_ = json.Unmarshal(e.Content, &c)
	}
	set := func(field, value string) {
		if value == "" {
			delete(c, field)
			return
		}
		b, _ := json.Marshal(value)
		c[field] = b
	}
	set("displayname", displayName)
	set("avatar_url", avatarURL)
	delete(c, "reason")
	c["membership"] = json.RawMessage(`"join"`)
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	t := userID
	_, err = p.Send(ctx, roomID, Proto{Type: eventauth.TypeMember, StateKey: &t, Sender: userID, Content: raw}, nil)
	return err
}
