package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

func (s *Server) registerMembershipRoutes() {
	const p = "/_matrix/client/v3"
	s.mux.HandleFunc("POST "+p+"/join/{roomIdOrAlias}", s.authed(s.postJoin))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/join", s.authed(s.postJoin))
	s.mux.HandleFunc("POST "+p+"/knock/{roomIdOrAlias}", s.authed(s.postKnock))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/invite", s.authed(s.postInvite))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/leave", s.authed(s.postLeave))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/forget", s.authed(s.postForget))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/kick", s.authed(s.moderation(s.opts.Rooms.Kick)))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/ban", s.authed(s.moderation(s.opts.Rooms.Ban)))
	s.mux.HandleFunc("POST "+p+"/rooms/{roomId}/unban", s.authed(s.moderation(s.opts.Rooms.Unban)))
	s.mux.HandleFunc("GET "+p+"/joined_rooms", s.authed(s.getJoinedRooms))
	s.mux.HandleFunc("GET "+p+"/rooms/{roomId}/members", s.authed(s.getMembers))
	s.mux.HandleFunc("GET "+p+"/rooms/{roomId}/joined_members", s.authed(s.getJoinedMembers))
}

// reasonBody is the body of the membership endpoints.
type reasonBody struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason"`
}

// RemoteRooms is what joining rooms on other servers needs (core/room's
// Federation).
type RemoteRooms interface {
	// JoinRemote joins a room this server is not in through one of
	// servers, and returns the join event's ID.
	JoinRemote(ctx context.Context, roomID, userID, reason string, servers []string) (string, error)
	// KnockRemote knocks on a room this server is not in through one of
	// servers, and returns the knock event's ID.
	KnockRemote(ctx context.Context, roomID, userID, reason string, servers []string) (string, error)
	// ResolveRemoteAlias asks another server for its alias's room and the
	// servers to join it through.
	ResolveRemoteAlias(ctx context.Context, alias string) (string, []string, error)
	// LeaveRemote rejects an invite to a room this server is not in.
	LeaveRemote(ctx context.Context, roomID, userID, reason string) error
	// InviteRemote invites a user of another server through that server.
	InviteRemote(ctx context.Context, roomID, sender, target, reason string, isDirect bool) error
	// CreateRoom creates a room as createRoom describes, inviting the
	// invitees of other servers through their servers.
	CreateRoom(ctx context.Context, req room.CreateRequest) (string, error)
	// RemoteHierarchy asks the servers of via for the hierarchy of a room
	// this server is not in (the children of a space on other servers).
	RemoteHierarchy(ctx context.Context, roomID string, via []string, suggestedOnly bool) (*room.FederationHierarchy, error)
	// RemoteProfile asks a remote user's server for their profile (field
	// "" for all of it).
	RemoteProfile(ctx context.Context, userID, field string) (map[string]json.RawMessage, error)
	// RemotePublicRooms asks another server for a page of its room
	// directory.
	RemotePublicRooms(ctx context.Context, server string, limit *int, since, search string) (json.RawMessage, error)
}

// postJoin is POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join. A
// room this server is not in is joined through federation: through the
// servers of server_name and via, those the alias's server named, and the
// room ID's server.
func (s *Server) postJoin(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body reasonBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	servers := append(q["server_name"], q["via"]...)
	roomID := r.PathValue("roomId")
	if target := r.PathValue("roomIdOrAlias"); target != "" {
		var err error
		if roomID, servers, err = s.resolveRoomTarget(r, target, servers); err != nil {
			return err
		}
	}
	if err := s.refuseBlocked(r, roomID); err != nil {
		return err
	}
	if s.opts.RemoteRooms != nil {
		// A room without events here (unknown, or known from an invite
		// only) is joined through a server that is in it.
		if s.notInRoom(ctx, roomID) {
			if _, err := s.opts.RemoteRooms.JoinRemote(ctx, roomID, sess.UserID, body.Reason, servers); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
			return nil
		}
	}
	if _, err := s.opts.Rooms.Join(ctx, roomID, sess.UserID, body.Reason); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
	return nil
}

// resolveRoomTarget turns a room ID or alias of a path into the room ID
// and the servers to reach it through (servers and those the alias's
// server names). An alias of this server that no room has is asked of
// the application services whose namespaces hold it.
func (s *Server) resolveRoomTarget(r *http.Request, target string, servers []string) (string, []string, error) {
	ctx := r.Context()
	switch {
	case strings.HasPrefix(target, "!"):
		return target, servers, nil
	case !strings.HasPrefix(target, "#"):
		return "", nil, core.ErrInvalidParam.WithMessage("%q is neither a room ID nor a room alias", target)
	case s.opts.RemoteRooms != nil && !strings.HasSuffix(target, ":"+s.opts.ServerName):
		roomID, more, err := s.opts.RemoteRooms.ResolveRemoteAlias(ctx, target)
		if err != nil {
			return "", nil, err
		}
		return roomID, append(servers, more...), nil
	}
	roomID, err := s.resolveLocalAlias(r, target)
	return roomID, servers, err
}

// postKnock is POST /knock/{roomIdOrAlias}: a knock on a room of this
// server goes through the room pipeline, one on a room this server is not
// in through a server that is (make_knock, send_knock).
func (s *Server) postKnock(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body reasonBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	roomID, servers, err := s.resolveRoomTarget(r, r.PathValue("roomIdOrAlias"), append(q["server_name"], q["via"]...))
	if err != nil {
		return err
	}
	if err := s.refuseBlocked(r, roomID); err != nil {
		return err
	}
	if s.opts.RemoteRooms != nil && s.notInRoom(ctx, roomID) {
		if _, err := s.opts.RemoteRooms.KnockRemote(ctx, roomID, sess.UserID, body.Reason, servers); err != nil {
			return err
		}
	} else if _, err := s.opts.Rooms.Knock(ctx, roomID, sess.UserID, body.Reason); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
	return nil
}

// refuseBlocked answers M_FORBIDDEN for a room an admin has blocked
// (Synapse's admin rooms API): nobody local may join or be invited.
func (s *Server) refuseBlocked(r *http.Request, roomID string) error {
	b, err := s.opts.AdminRooms.RoomBlock(r.Context(), roomID)
	if err != nil {
		return err
	}
	if b.Blocked {
		return core.ErrForbidden.WithMessage("this room has been blocked on this server")
	}
	return nil
}

// postInvite is POST /rooms/{roomId}/invite.
func (s *Server) postInvite(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body reasonBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.UserID == "" {
		return core.ErrMissingParam.WithMessage("user_id is required")
	}
	if err := s.refuseBlocked(r, r.PathValue("roomId")); err != nil {
		return err
	}
	invite := s.opts.Rooms.Invite
	if s.opts.RemoteRooms != nil && !strings.HasSuffix(body.UserID, ":"+s.opts.ServerName) {
		invite = s.opts.RemoteRooms.InviteRemote
	} else if _, err := s.opts.Accounts.Account(r.Context(), body.UserID); errors.Is(err, core.ErrNotFound) {
		// A local user no one has registered may be an application
		// service's ghost: the service is asked, and creates it.
		s.appServiceKnowsUser(r, body.UserID)
	}
	if err := invite(r.Context(), r.PathValue("roomId"), sess.UserID, body.UserID, body.Reason, false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// postLeave is POST /rooms/{roomId}/leave.
func (s *Server) postLeave(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	var body reasonBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	ctx, roomID := r.Context(), r.PathValue("roomId")
	leave := s.opts.Rooms.Leave
	if s.opts.RemoteRooms != nil && s.notInRoom(ctx, roomID) {
		leave = s.opts.RemoteRooms.LeaveRemote // rejecting an invite to a remote room
	}
	if err := leave(ctx, roomID, sess.UserID, body.Reason); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// notInRoom reports whether the server holds no events of roomID (the room
// is unknown, or known from an invite only).
func (s *Server) notInRoom(ctx context.Context, roomID string) bool {
	exts, err := s.opts.Rooms.ForwardExtremities(ctx, roomID)
	return (err == nil && len(exts) == 0) || errors.Is(err, core.ErrNotFound)
}

// postForget is POST /rooms/{roomId}/forget.
func (s *Server) postForget(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	if err := s.opts.Rooms.Forget(r.Context(), r.PathValue("roomId"), sess.UserID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, empty)
	return nil
}

// moderation serves kick, ban and unban, which share their body. Not
// inlined (see public).
//
//go:noinline
func (s *Server) moderation(act func(ctx context.Context, roomID, sender, target, reason string) error) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
		var body reasonBody
		if err := readJSON(r, &body); err != nil {
			return err
		}
		if body.UserID == "" {
			return core.ErrMissingParam.WithMessage("user_id is required")
		}
		if err := act(r.Context(), r.PathValue("roomId"), sess.UserID, body.UserID, body.Reason); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, empty)
		return nil
	}
}

// getJoinedRooms is GET /joined_rooms.
func (s *Server) getJoinedRooms(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	rooms, err := s.opts.Rooms.JoinedRooms(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]string{"joined_rooms": rooms})
	return nil
}

// getMembers is GET /rooms/{roomId}/members.
func (s *Server) getMembers(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	q := r.URL.Query()
	mq := room.MembersQuery{Membership: q.Get("membership"), NotMembership: q.Get("not_membership")}
	for _, m := range []string{mq.Membership, mq.NotMembership} {
		switch m {
		case "", "join", "invite", "knock", "leave", "ban":
		default:
			return core.ErrInvalidParam.WithMessage("unknown membership %q", m)
		}
	}
	if at := q.Get("at"); at != "" {
		pos, ok := streamOfToken(at)
		if !ok {
			return core.ErrInvalidParam.WithMessage("at: invalid token")
		}
		mq.AtStream = &pos
	}
	evs, err := s.opts.Rooms.Members(r.Context(), r.PathValue("roomId"), sess.UserID, mq)
	if err != nil {
		return err
	}
	chunk, err := s.opts.Rooms.ClientEvents(r.Context(), evs, s.clientFormat(sess))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"chunk": chunk})
	return nil
}

// streamOfToken reads the event stream position out of a token /sync or
// /messages gave out: the first position of a sync token "s<events>_...",
// or the stream part of a timeline token "t<depth>_<stream>".
func streamOfToken(tok string) (int64, bool) {
	var part string
	switch {
	case strings.HasPrefix(tok, "s"):
		part, _, _ = strings.Cut(tok[1:], "_")
	case strings.HasPrefix(tok, "t"):
		_, part, _ = strings.Cut(tok[1:], "_")
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(part, 10, 64)
	return n, err == nil
}

// getJoinedMembers is GET /rooms/{roomId}/joined_members.
func (s *Server) getJoinedMembers(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	members, err := s.opts.Rooms.JoinedMembers(r.Context(), r.PathValue("roomId"), sess.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"joined": members})
	return nil
}
