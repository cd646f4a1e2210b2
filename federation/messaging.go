package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/matrixhttp"
)

// Memberships is the resident side of remote joins and leaves (core/room's
// Federation implements it).
type Memberships interface {
	// MakeMembership returns the room version and the template of userID's
	// membership event in roomID, for origin to sign.
	MakeMembership(ctx context.Context, origin, roomID, userID, membership string, versions []string) (string, json.RawMessage, error)
	// SendMembership takes in the signed event; for a join it returns
	// send_join's answer.
	SendMembership(ctx context.Context, origin, roomID, eventID, membership string, raw json.RawMessage) (*core.SendJoinResponse, error)
}

// Invites takes in other servers' invites of local users (core/room's
// Federation implements it).
type Invites interface {
	// ReceiveInvite checks, signs and records the invite, and returns it
	// with this server's signature added.
	ReceiveInvite(ctx context.Context, origin, roomID, eventID, version string, raw json.RawMessage, inviteRoomState []json.RawMessage) (json.RawMessage, error)
}

// MessagingOptions are the services the messaging layer answers from. A
// nil service leaves its endpoints answering M_UNRECOGNIZED.
type MessagingOptions struct {
	ServerName  string
	Memberships Memberships
	Invites     Invites
	// ThirdPartyInvites serves /exchange_third_party_invite and
	// /3pid/onbind.
	ThirdPartyInvites ThirdPartyInvites
	// Accounts says which local users exist; Profiles gives their
	// profiles.
	Accounts interface {
		Account(ctx context.Context, userID string) (core.Account, error)
	}
	Profiles core.ProfileStore
	// ResolveAlias maps a local alias to its room.
	ResolveAlias func(ctx context.Context, alias string) (string, error)
	// ServersInRoom lists the servers with members joined to a room (nil:
	// query/directory names this server only).
	ServersInRoom func(ctx context.Context, roomID string) ([]string, error)
	// PublicRooms lists the published rooms matching a search.
	PublicRooms func(ctx context.Context, search string) ([]room.PublicRoom, error)
	// Hierarchy answers another server's /hierarchy request for a space.
	Hierarchy func(ctx context.Context, origin, roomID string, suggestedOnly bool) (*room.FederationHierarchy, error)
	// End-to-end encryption: devices, their keys, cross-signing keys and
	// where each user's device list stands.
	Devices      core.DeviceStore
	DeviceKeys   core.DeviceKeyStore
	CrossSigning core.CrossSigningStore
	DeviceLists  core.DeviceListStreamIDs
	// Media serves local media to other servers.
	Media LocalMedia
	// OpenID checks the OpenID tokens local users hand to third parties
	// (nil: /openid/userinfo is not served).
	OpenID core.OpenIDTokenStore
}

// Messaging answers the messaging layer's inbound requests: joins and
// leaves, queries, user devices and keys, public rooms.
type Messaging struct {
	opts MessagingOptions
}

// NewMessaging returns the messaging layer for NewServer.
func NewMessaging(o MessagingOptions) *Messaging { return &Messaging{opts: o} }

func (m *Messaging) register(s *Server) {
	o := m.opts
	if o.Memberships != nil {
		s.handle("GET /_matrix/federation/v1/make_join/{roomID}/{userID}", m.makeJoin)
		s.handle("PUT /_matrix/federation/v2/send_join/{roomID}/{eventID}", m.sendJoin(false))
		s.handle("PUT /_matrix/federation/v1/send_join/{roomID}/{eventID}", m.sendJoin(true))
		s.handle("GET /_matrix/federation/v1/make_leave/{roomID}/{userID}", m.makeLeave)
		s.handle("PUT /_matrix/federation/v2/send_leave/{roomID}/{eventID}", m.sendLeave(false))
		s.handle("PUT /_matrix/federation/v1/send_leave/{roomID}/{eventID}", m.sendLeave(true))
		s.handle("GET /_matrix/federation/v1/make_knock/{roomID}/{userID}", m.makeKnock)
		s.handle("PUT /_matrix/federation/v1/send_knock/{roomID}/{eventID}", m.sendKnock)
	}
	if o.Invites != nil {
		s.handle("PUT /_matrix/federation/v2/invite/{roomID}/{eventID}", m.invite)
		s.handle("PUT /_matrix/federation/v1/invite/{roomID}/{eventID}", m.inviteV1)
	}
	if o.ThirdPartyInvites != nil {
		s.handle("PUT /_matrix/federation/v1/exchange_third_party_invite/{roomID}", m.exchangeThirdPartyInvite)
		// Identity servers call it without X-Matrix.
		s.mux.HandleFunc("PUT /_matrix/federation/v1/3pid/onbind", m.onBind)
	}
	if o.Profiles != nil && o.Accounts != nil {
		s.handle("GET /_matrix/federation/v1/query/profile", m.queryProfile)
	}
	if o.ResolveAlias != nil {
		s.handle("GET /_matrix/federation/v1/query/directory", m.queryDirectory)
	}
	if o.PublicRooms != nil {
		s.handle("GET /_matrix/federation/v1/publicRooms", m.getPublicRooms)
		s.handle("POST /_matrix/federation/v1/publicRooms", m.postPublicRooms)
	}
	if o.Hierarchy != nil {
		s.handle("GET /_matrix/federation/v1/hierarchy/{roomID}", m.hierarchy)
	}
	if o.Media != nil {
		s.handle("GET /_matrix/federation/v1/media/download/{mediaID}", m.mediaDownload(false))
		s.handle("GET /_matrix/federation/v1/media/thumbnail/{mediaID}", m.mediaDownload(true))
	}
	if o.Devices != nil && o.DeviceKeys != nil && o.CrossSigning != nil && o.DeviceLists != nil {
		s.handle("GET /_matrix/federation/v1/user/devices/{userID}", m.userDevices)
		s.handle("POST /_matrix/federation/v1/user/keys/query", m.keysQuery)
		s.handle("POST /_matrix/federation/v1/user/keys/claim", m.keysClaim)
	}
	if o.OpenID != nil {
		// The spec serves it without X-Matrix: the caller is a third
		// party (an integration manager, a widget host), not a server.
		s.mux.HandleFunc("GET /_matrix/federation/v1/openid/userinfo", m.openIDUserInfo)
	}
}

func (m *Messaging) makeJoin(w http.ResponseWriter, r *http.Request, origin string) error {
	versions := r.URL.Query()["ver"]
	if len(versions) == 0 {
		versions = []string{"1"} // "Defaults to [1]" (make_join's ver)
	}
	return m.makeMembership(w, r, origin, "join", versions)
}

// makeKnock answers GET /make_knock: ver is required (knocks exist from
// room version 7).
func (m *Messaging) makeKnock(w http.ResponseWriter, r *http.Request, origin string) error {
	versions := r.URL.Query()["ver"]
	if len(versions) == 0 {
		return core.ErrMissingParam.WithMessage("ver is required")
	}
	return m.makeMembership(w, r, origin, "knock", versions)
}

// sendKnock answers PUT /send_knock with the room's stripped state.
func (m *Messaging) sendKnock(w http.ResponseWriter, r *http.Request, origin string) error {
	var raw json.RawMessage
	if err := matrixhttp.ReadJSONLimit(r, &raw, maxEventBody); err != nil {
		return err
	}
	resp, err := m.opts.Memberships.SendMembership(r.Context(), origin, r.PathValue("roomID"), r.PathValue("eventID"), "knock", raw)
	if err != nil {
		return err
	}
	st := []json.RawMessage{}
	if resp != nil && resp.State != nil {
		st = resp.State
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"knock_room_state": st})
	return nil
}

func (m *Messaging) makeLeave(w http.ResponseWriter, r *http.Request, origin string) error {
	return m.makeMembership(w, r, origin, "leave", nil)
}

func (m *Messaging) makeMembership(w http.ResponseWriter, r *http.Request, origin, membership string, versions []string) error {
	version, ev, err := m.opts.Memberships.MakeMembership(r.Context(), origin, r.PathValue("roomID"), r.PathValue("userID"), membership, versions)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"room_version": version, "event": ev})
	return nil
}

// maxEventBody bounds a send_join or send_leave body (one event).
const maxEventBody = 128 * 1024

func (m *Messaging) sendJoin(v1 bool) func(w http.ResponseWriter, r *http.Request, origin string) error {
	return func(w http.ResponseWriter, r *http.Request, origin string) error {
		var raw json.RawMessage
		if err := matrixhttp.ReadJSONLimit(r, &raw, maxEventBody); err != nil {
			return err
		}
		resp, err := m.opts.Memberships.SendMembership(r.Context(), origin, r.PathValue("roomID"), r.PathValue("eventID"), "join", raw)
		if err != nil {
			return err
		}
		if resp.ServersInRoom == nil {
			resp.ServersInRoom = []string{}
		}
		if v1 {
			matrixhttp.WriteJSON(w, http.StatusOK, []any{200, resp})
			return nil
		}
		matrixhttp.WriteJSON(w, http.StatusOK, resp)
		return nil
	}
}

func (m *Messaging) sendLeave(v1 bool) func(w http.ResponseWriter, r *http.Request, origin string) error {
	return func(w http.ResponseWriter, r *http.Request, origin string) error {
		var raw json.RawMessage
		if err := matrixhttp.ReadJSONLimit(r, &raw, maxEventBody); err != nil {
			return err
		}
		if _, err := m.opts.Memberships.SendMembership(r.Context(), origin, r.PathValue("roomID"), r.PathValue("eventID"), "leave", raw); err != nil {
			return err
		}
		if v1 {
			matrixhttp.WriteJSON(w, http.StatusOK, []any{200, struct{}{}})
			return nil
		}
		matrixhttp.WriteJSON(w, http.StatusOK, struct{}{})
		return nil
	}
}

// invite answers PUT /_matrix/federation/v2/invite/{roomId}/{eventId}.
func (m *Messaging) invite(w http.ResponseWriter, r *http.Request, origin string) error {
	var body struct {
		RoomVersion     string            `json:"room_version"`
		Event           json.RawMessage   `json:"event"`
		InviteRoomState []json.RawMessage `json:"invite_room_state"`
	}
	if err := matrixhttp.ReadJSONLimit(r, &body, MaxRequestBody); err != nil {
		return err
	}
	if body.RoomVersion == "" || len(body.Event) == 0 {
		return core.ErrBadJSON.WithMessage("room_version and event are required")
	}
	if m.opts.Accounts != nil {
		var target struct {
			StateKey string `json:"state_key"`
		}
		json.Unmarshal(body.Event, &target)
		if m.isLocal(target.StateKey) {
			if err := m.localUser(r.Context(), target.StateKey); err != nil {
				return err
			}
		}
	}
	signed, err := m.opts.Invites.ReceiveInvite(r.Context(), origin, r.PathValue("roomID"), r.PathValue("eventID"), body.RoomVersion, body.Event, body.InviteRoomState)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]json.RawMessage{"event": signed})
	return nil
}

// inviteV1 answers PUT /_matrix/federation/v1/invite/{roomId}/{eventId}:
// the body is the invite event itself, its stripped room state in
// unsigned.invite_room_state, and the room version is 1 or 2 ("servers
// which receive a v1 invite request must assume that the room version is
// either 1 or 2"): 2 when the m.room.create event of the room state says
// so, else 1 (the two share the event format; they differ in state
// resolution). The answer is the spec's [200, {"event": ...}].
func (m *Messaging) inviteV1(w http.ResponseWriter, r *http.Request, origin string) error {
	var event json.RawMessage
	if err := matrixhttp.ReadJSONLimit(r, &event, MaxRequestBody); err != nil {
		return err
	}
	var body struct {
		StateKey string `json:"state_key"`
		Unsigned struct {
			InviteRoomState []json.RawMessage `json:"invite_room_state"`
		} `json:"unsigned"`
	}
	if err := json.Unmarshal(event, &body); err != nil {
		return core.ErrBadJSON.WithMessage("the body is not an invite event: %v", err)
	}
	if m.opts.Accounts != nil && m.isLocal(body.StateKey) {
		if err := m.localUser(r.Context(), body.StateKey); err != nil {
			return err
		}
	}
	version := "1"
	for _, raw := range body.Unsigned.InviteRoomState {
		var ev struct {
			Type     string `json:"type"`
			StateKey string `json:"state_key"`
			Content  struct {
				RoomVersion string `json:"room_version"`
			} `json:"content"`
		}
		if json.Unmarshal(raw, &ev) == nil && ev.Type == "m.room.create" && ev.StateKey == "" && ev.Content.RoomVersion == "2" {
			version = "2"
		}
	}
	signed, err := m.opts.Invites.ReceiveInvite(r.Context(), origin, r.PathValue("roomID"), r.PathValue("eventID"), version, event, body.Unsigned.InviteRoomState)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, []any{http.StatusOK, map[string]json.RawMessage{"event": signed}})
	return nil
}

// localUser checks that userID is a user of this server with an account.
func (m *Messaging) localUser(ctx context.Context, userID string) error {
	u, err := id.ParseUserID(userID)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("%q is not a user ID", userID)
	}
	if string(u.ServerName()) != m.opts.ServerName {
		return core.ErrInvalidParam.WithMessage("%s is not a user of this server", userID)
	}
	if _, err := m.opts.Accounts.Account(ctx, userID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return core.ErrNotFound.WithMessage("no such user %s", userID)
		}
		return err
	}
	return nil
}

// queryProfile answers GET /query/profile: the user's display name and
// avatar URL, or the one field asked for.
func (m *Messaging) queryProfile(w http.ResponseWriter, r *http.Request, origin string) error {
	q := r.URL.Query()
	userID, field := q.Get("user_id"), q.Get("field")
	if userID == "" {
		return core.ErrMissingParam.WithMessage("user_id is required")
	}
	if err := m.localUser(r.Context(), userID); err != nil {
		return err
	}
	fields, err := m.opts.Profiles.Profile(r.Context(), userID)
	if err != nil {
		return err
	}
	out := map[string]json.RawMessage{}
	for k, v := range fields {
		if field == "" || k == field {
			out[k] = v
		}
	}
	if field != "" && len(out) == 0 {
		return core.ErrNotFound.WithMessage("%s has no %s", userID, field)
	}
	matrixhttp.WriteJSON(w, http.StatusOK, out)
	return nil
}

// queryDirectory answers GET /query/directory for a local alias.
func (m *Messaging) queryDirectory(w http.ResponseWriter, r *http.Request, origin string) error {
	alias := r.URL.Query().Get("room_alias")
	if alias == "" {
		return core.ErrMissingParam.WithMessage("room_alias is required")
	}
	roomID, err := m.opts.ResolveAlias(r.Context(), alias)
	if err != nil {
		return err
	}
	// This server first: it holds the alias, and is in the room.
	servers := []string{m.opts.ServerName}
	if m.opts.ServersInRoom != nil {
		others, err := m.opts.ServersInRoom(r.Context(), roomID)
		if err != nil {
			return err
		}
		for _, s := range others {
			if s != m.opts.ServerName && len(servers) < 20 {
				servers = append(servers, s)
			}
		}
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": servers})
	return nil
}

// publicRoomsPage is the answer of /publicRooms.
type publicRoomsPage struct {
	Chunk     []room.PublicRoom `json:"chunk"`
	NextBatch string            `json:"next_batch,omitempty"`
	PrevBatch string            `json:"prev_batch,omitempty"`
	Total     int               `json:"total_room_count_estimate"`
}

// maxPublicRoomsLimit bounds one page.
const maxPublicRoomsLimit = 500

func (m *Messaging) getPublicRooms(w http.ResponseWriter, r *http.Request, origin string) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return core.ErrInvalidParam.WithMessage("limit must be a non-negative number")
		}
		limit = n
	}
	return m.publicRooms(w, r, "", limit, q.Get("since"))
}

func (m *Messaging) postPublicRooms(w http.ResponseWriter, r *http.Request, origin string) error {
	var body struct {
		Limit  int    `json:"limit"`
		Since  string `json:"since"`
		Filter struct {
			GenericSearchTerm string `json:"generic_search_term"`
		} `json:"filter"`
	}
	if err := matrixhttp.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.Limit < 0 {
		return core.ErrInvalidParam.WithMessage("limit must be a non-negative number")
	}
	return m.publicRooms(w, r, body.Filter.GenericSearchTerm, body.Limit, body.Since)
}

// publicRooms writes one page of the published rooms; since is the offset
// of the page, as the client-server API's directory pages it.
func (m *Messaging) publicRooms(w http.ResponseWriter, r *http.Request, search string, limit int, since string) error {
	rooms, err := m.opts.PublicRooms(r.Context(), search)
	if err != nil {
		return err
	}
	from := 0
	if since != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(since, "o"))
		if err != nil || n < 0 {
			return core.ErrInvalidParam.WithMessage("since is not a token of this server")
		}
		from = min(n, len(rooms))
	}
	if limit == 0 || limit > maxPublicRoomsLimit {
		limit = maxPublicRoomsLimit
	}
	to := min(from+limit, len(rooms))
	page := publicRoomsPage{Chunk: rooms[from:to], Total: len(rooms)}
	if page.Chunk == nil {
		page.Chunk = []room.PublicRoom{}
	}
	if to < len(rooms) {
		page.NextBatch = "o" + strconv.Itoa(to)
	}
	if from > 0 {
		page.PrevBatch = "o" + strconv.Itoa(max(from-limit, 0))
	}
	matrixhttp.WriteJSON(w, http.StatusOK, page)
	return nil
}

// hierarchy answers GET /hierarchy/{roomId} (server-server API, "Spaces").
func (m *Messaging) hierarchy(w http.ResponseWriter, r *http.Request, origin string) error {
	suggested := false
	switch r.URL.Query().Get("suggested_only") {
	case "", "false":
	case "true":
		suggested = true
	default:
		return core.ErrInvalidParam.WithMessage("suggested_only must be true or false")
	}
	h, err := m.opts.Hierarchy(r.Context(), origin, r.PathValue("roomID"), suggested)
	if err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, h)
	return nil
}
