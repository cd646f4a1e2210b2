package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// The joining side of remote joins (server-server API, "Joining Rooms"):
// make_join to a resident server for a template, fill it in and sign it,
// send_join, and take in the answer (StoreSendJoin).

// errNoResident is the answer when no resident server could be used.
var errNoResident = core.ErrNotFound.WithMessage("no server in the room could be reached to join it")

// JoinRemote makes local user userID join roomID, a room this server is not
// in, through one of servers (tried in order; the room ID's own server is
// tried last when it has one). It returns the join event's ID.
//
// It returns a *core.Error: M_NOT_FOUND when no server could be reached or
// none knows the room, the resident server's refusal (M_FORBIDDEN, ...) as
// it sent it, M_INCOMPATIBLE_ROOM_VERSION for a room version this server
// does not support.
func (f *Federation) JoinRemote(ctx context.Context, roomID, userID, reason string, servers []string) (string, error) {
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
	if err := p.mayJoin(ctx, roomID, userID); err != nil {
		return "", err
	}
	// An invite names a server that is in the room: its sender's.
	if m, err := p.membershipOf(ctx, roomID, userID); err == nil && m.EventID != "" && m.Membership == eventauth.MembershipInvite {
		if inv, err := p.stores.Events.Event(ctx, m.EventID); err == nil {
			if u, err := id.ParseUserID(inv.Sender); err == nil {
				servers = append(servers, string(u.ServerName()))
			}
		}
	}
	servers = joinCandidates(p.cfg.ServerName, roomID, servers)
	if len(servers) == 0 {
		return "", core.ErrNotFound.WithMessage("no server to join %s through: give server_name or via", roomID)
	}
	return f.throughResidents(ctx, "join", roomID, servers, func(server string) (string, error) {
		return f.joinThrough(ctx, server, roomID, userID, reason)
	})
}

// throughResidents tries each candidate server in turn with try (a
// make_/send_ handshake for a membership) and returns the first event ID.
// M_FORBIDDEN and M_INCOMPATIBLE_ROOM_VERSION end the search: they are the
// room's decision, not the asked server's. Otherwise the last Matrix error
// seen is returned, or errNoResident.
func (f *Federation) throughResidents(ctx context.Context, what, roomID string, servers []string, try func(server string) (string, error)) (string, error) {
	var lastErr error = errNoResident
	for _, server := range servers {
		eventID, err := try(server)
		if err == nil {
			return eventID, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		f.cfg.Logger.InfoContext(ctx, "remote "+what+" failed", "room_id", roomID, "server", server, "err", err)
		var me *core.Error
		if errors.As(err, &me) && (me.ErrCode == core.ErrForbidden.ErrCode || me.ErrCode == core.ErrIncompatibleRoomVer.ErrCode) {
			return "", err // a decision of the room, not of the server asked
		}
		lastErr = err
	}
	var me *core.Error
	if errors.As(lastErr, &me) {
		return "", me
	}
	return "", errNoResident
}

// joinCandidates returns servers without this server and duplicates, with
// the room ID's server (room versions before 12 have one) last.
func joinCandidates(self, roomID string, servers []string) []string {
	var out []string
	seen := map[string]bool{self: true}
	add := func(s string) {
		if s != "" && !seen[s] {
			if _, err := id.ParseServerName(s); err == nil {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	for _, s := range servers {
		add(s)
	}
	if r, err := id.ParseRoomID(roomID); err == nil {
		if sn, ok := r.ServerName(); ok {
			add(string(sn))
		}
	}
	return out
}

// supportedVersions is make_join's ver: every room version this server
// knows.
func supportedVersions() string {
	q := url.Values{}
	for _, v := range roomversion.All() {
		q.Add("ver", string(v.ID))
	}
	return q.Encode()
}

// makeMembership asks server for a template of userID's membership event
// (make_join or make_knock), fills it in with reason and signs it. It
// returns the room's version, the event's JSON and the event.
func (f *Federation) makeMembership(ctx context.Context, server, membership, roomID, userID, reason string) (*roomversion.Version, []byte, *pdu.PDU, error) {
	var made struct {
		RoomVersion string          `json:"room_version"`
		Event       json.RawMessage `json:"event"`
	}
	path := "/_matrix/federation/v1/make_" + membership + "/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID) + "?" + supportedVersions()
	if err := f.cfg.Client.Request(ctx, server, "GET", path, nil, &made); err != nil {
		return nil, nil, nil, err
	}
	if made.RoomVersion == "" {
		made.RoomVersion = "1" // "If not provided, the room version is assumed to be either 1 or 2" (v1 answers)
	}
	v, err := roomversion.Lookup(roomversion.ID(made.RoomVersion))
	switch {
	case err != nil:
		return nil, nil, nil, core.ErrIncompatibleRoomVer.WithMessage("room %s has version %q, which this server does not support", roomID, made.RoomVersion)
	case membership == eventauth.MembershipKnock && !v.Knock:
		return nil, nil, nil, core.ErrIncompatibleRoomVer.WithMessage("room %s has version %q, where this server cannot knock", roomID, made.RoomVersion)
	}
	content, err := f.p.memberContent(ctx, membership, userID, reason)
	if err != nil {
		return nil, nil, nil, err
	}
	js, err := f.fillMembership(v, roomID, userID, content, made.Event)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("room: make_%s template from %s: %w", membership, server, err)
	}
	ev, err := pdu.Parse(v, js)
	if err != nil {
		return nil, nil, nil, err
	}
	return v, js, ev, nil
}

// joinThrough does make_join and send_join with one resident server.
func (f *Federation) joinThrough(ctx context.Context, server, roomID, userID, reason string) (string, error) {
	v, js, ev, err := f.makeMembership(ctx, server, eventauth.MembershipJoin, roomID, userID, reason)
	if err != nil {
		return "", err
	}
	// The answer's events are checked and stored while it is read.
	j := f.newJoinIntake(ctx, v, roomIDOf(v, ev))
	path := "/_matrix/federation/v2/send_join/" + url.PathEscape(roomID) + "/" + url.PathEscape(ev.EventID)
	if err := f.cfg.Client.Request(ctx, server, "PUT", path, json.RawMessage(js), j); err != nil {
		if j.err != nil {
			return "", j.err
		}
		return "", err
	}
	return f.finishJoin(ctx, server, js, j)
}

// fillMembership checks a make_join or make_leave template and turns it
// into the signed event: this server's timestamp, content (merged over what
// the resident server put there, such as
// join_authorised_via_users_server), hashes and signature.
func (f *Federation) fillMembership(v *roomversion.Version, roomID, userID string, content map[string]any, template json.RawMessage) ([]byte, error) {
	p := f.p
	var t map[string]json.RawMessage
	if err := json.Unmarshal(template, &t); err != nil || t == nil {
		return nil, errors.New("the template is not a JSON object")
	}
	var head struct {
		Type     string  `json:"type"`
		RoomID   string  `json:"room_id"`
		Sender   string  `json:"sender"`
		StateKey *string `json:"state_key"`
		Content  map[string]any
	}
	if err := json.Unmarshal(template, &head); err != nil {
		return nil, err
	}
	if head.Type != eventauth.TypeMember || head.RoomID != roomID || head.Sender != userID || head.StateKey == nil || *head.StateKey != userID {
		return nil, errors.New("the template is not the user's m.room.member event in the room")
	}
	merged := map[string]any{}
	maps.Copy(merged, head.Content)
	maps.Copy(merged, content)
	for _, k := range []string{"content", "origin_server_ts", "hashes", "signatures", "unsigned", "event_id"} {
		delete(t, k)
	}
	t["content"], _ = json.Marshal(merged)
	t["origin_server_ts"], _ = json.Marshal(p.now())
	if v.EventFormat == roomversion.FormatV1 {
		t["event_id"], _ = json.Marshal("$" + rand.Text() + ":" + p.cfg.ServerName)
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	ev, err := pdu.Parse(v, raw)
	if err != nil {
		return nil, err
	}
	if len(ev.PrevEvents) == 0 || slices.Contains(ev.PrevEvents, "") {
		return nil, errors.New("the template has no prev_events")
	}
	if err := signing.SignEvent(v, ev, p.cfg.ServerName, p.cfg.Key.ID, p.cfg.Key.Private); err != nil {
		return nil, err
	}
	return ev.MarshalFor(v)
}

// ResolveRemoteAlias asks the alias's server which room it names
// (query/directory) and returns the room ID and the servers to join it
// through.
func (f *Federation) ResolveRemoteAlias(ctx context.Context, alias string) (string, []string, error) {
	a, err := id.ParseRoomAlias(alias)
	if err != nil {
		return "", nil, core.ErrInvalidParam.WithMessage("%q is not a room alias", alias)
	}
	if f.cfg.Client == nil {
		return "", nil, core.ErrNotFound.WithMessage("%s belongs to another server, and this server has no federation client", alias)
	}
	var resp struct {
		RoomID  string   `json:"room_id"`
		Servers []string `json:"servers"`
	}
	path := "/_matrix/federation/v1/query/directory?" + url.Values{"room_alias": {alias}}.Encode()
	if err := f.cfg.Client.Request(ctx, string(a.ServerName()), "GET", path, nil, &resp); err != nil {
		var me *core.Error
		if errors.As(err, &me) && me.ErrCode == core.ErrNotFound.ErrCode {
			return "", nil, core.ErrNotFound.WithMessage("room alias %s not found", alias)
		}
		return "", nil, core.ErrUnavailable.WithMessage("could not ask %s about %s", a.ServerName(), alias)
	}
	if _, err := id.ParseRoomID(resp.RoomID); err != nil {
		return "", nil, core.ErrUnavailable.WithMessage("%s answered a malformed room ID for %s", a.ServerName(), alias)
	}
	return resp.RoomID, resp.Servers, nil
}
