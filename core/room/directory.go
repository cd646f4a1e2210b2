package room

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
)

// DirectoryStore keeps what the server records about rooms beside their
// events: local room aliases, the published room directory, and the rooms
// users have forgotten.
type DirectoryStore interface {
	// CreateAlias maps alias to roomID, recording creator. It returns an
	// error wrapping core.ErrRoomInUse if alias is already mapped.
	CreateAlias(ctx context.Context, alias, roomID, creator string) error
	// ResolveAlias returns the room alias maps to and who created the
	// mapping. It returns an error wrapping core.ErrNotFound if alias is
	// not mapped.
	ResolveAlias(ctx context.Context, alias string) (roomID, creator string, err error)
	// DeleteAlias removes alias. It returns an error wrapping
	// core.ErrNotFound if alias is not mapped.
	DeleteAlias(ctx context.Context, alias string) error
	// Aliases returns the aliases mapped to roomID, sorted (none is not an
	// error).
	Aliases(ctx context.Context, roomID string) ([]string, error)
	// SetPublished sets whether roomID is in the published room directory.
	// It returns an error wrapping core.ErrNotFound for an unknown room.
	SetPublished(ctx context.Context, roomID string, published bool) error
	// PublishedRooms returns the IDs of the published rooms, sorted.
	PublishedRooms(ctx context.Context) ([]string, error)
	// SetNetworkPublished sets whether roomID is in the room directory of
	// network of the application service service. It returns an error
	// wrapping core.ErrNotFound for an unknown room.
	SetNetworkPublished(ctx context.Context, service, network, roomID string, published bool) error
	// NetworkPublishedRooms returns the IDs of the rooms published in
	// network of service, or, with service "", in any network of any
	// service, sorted.
	NetworkPublishedRooms(ctx context.Context, service, network string) ([]string, error)
	// Forget records that userID forgot roomID as of the membership event
	// eventID (their leave or ban).
	Forget(ctx context.Context, userID, roomID, eventID string) error
	// ForgottenAt returns the membership event as of which userID forgot
	// roomID, "" if they never did.
	ForgottenAt(ctx context.Context, userID, roomID string) (string, error)
}

func (p *Pipeline) directory() (DirectoryStore, error) {
	if p.stores.Directory == nil {
		return nil, core.ErrUnrecognized.WithMessage("the room directory is not available")
	}
	return p.stores.Directory, nil
}

// checkLocalAlias parses alias and checks that it belongs to this server.
func (p *Pipeline) checkLocalAlias(alias string) error {
	a, err := id.ParseRoomAlias(alias)
	if err != nil {
		return core.ErrInvalidParam.WithMessage("%q is not a room alias", alias)
	}
	if string(a.ServerName()) != p.cfg.ServerName {
		return core.ErrInvalidParam.WithMessage("%s is not an alias of this server", alias)
	}
	return nil
}

// ResolveAlias returns the room a local alias maps to. A remote alias
// gives M_NOT_FOUND, as resolving it needs federation.
func (p *Pipeline) ResolveAlias(ctx context.Context, alias string) (string, error) {
	a, err := id.ParseRoomAlias(alias)
	if err != nil {
		return "", core.ErrInvalidParam.WithMessage("%q is not a room alias", alias)
	}
	if string(a.ServerName()) != p.cfg.ServerName {
		return "", core.ErrNotFound.WithMessage("%s belongs to another server; resolving it needs federation, which this server does not offer yet", alias)
	}
	d, err := p.directory()
	if err != nil {
		return "", err
	}
	roomID, _, err := d.ResolveAlias(ctx, alias)
	if errors.Is(err, core.ErrNotFound) {
		return "", core.ErrNotFound.WithMessage("room alias %s not found", alias)
	}
	return roomID, err
}

// CreateAlias maps a local alias to roomID for userID, who must be joined
// to the room. A taken alias gives an error wrapping core.ErrRoomInUse
// (the web layer answers it with the 409 the alias endpoint asks for);
// M_INVALID_PARAM for an alias that is malformed or another server's,
// M_NOT_FOUND for an unknown room, M_FORBIDDEN for a user not joined.
func (p *Pipeline) CreateAlias(ctx context.Context, alias, roomID, userID string) error {
	if err := p.checkLocalAlias(alias); err != nil {
		return err
	}
	if _, err := id.ParseRoomID(roomID); err != nil {
		return core.ErrInvalidParam.WithMessage("%q is not a room ID", roomID)
	}
	d, err := p.directory()
	if err != nil {
		return err
	}
	if _, err := p.Version(ctx, roomID); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return core.ErrNotFound.WithMessage("unknown room %s", roomID)
		}
		return err
	}
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if m.Membership != eventauth.MembershipJoin {
		return notInRoom(roomID)
	}
	return d.CreateAlias(ctx, alias, roomID, userID)
}

// DeleteAlias removes a local alias for userID: its creator, a server
// admin, or a member of the room allowed to send m.room.canonical_alias.
func (p *Pipeline) DeleteAlias(ctx context.Context, alias, userID string, isAdmin bool) error {
	if err := p.checkLocalAlias(alias); err != nil {
		return err
	}
	d, err := p.directory()
	if err != nil {
		return err
	}
	roomID, creator, err := d.ResolveAlias(ctx, alias)
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("room alias %s not found", alias)
	}
	if err != nil {
		return err
	}
	if creator != userID && !isAdmin {
		ok, err := p.canSendState(ctx, roomID, userID, keyAlias.Type)
		if err != nil {
			return err
		}
		if !ok {
			return core.ErrForbidden.WithMessage("you may not remove %s", alias)
		}
	}
	err = d.DeleteAlias(ctx, alias)
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("room alias %s not found", alias)
	}
	if err != nil {
		return err
	}
	return p.dropCanonicalAlias(ctx, roomID, alias, userID)
}

// dropCanonicalAlias sends, as userID, a new m.room.canonical_alias
// event of roomID without alias when the current one names it (as alias
// or in alt_aliases), as Synapse does when an alias is deleted. A user
// the auth rules do not allow to send it (a server admin outside the
// room) leaves the event as it is: the alias is deleted all the same.
func (p *Pipeline) dropCanonicalAlias(ctx context.Context, roomID, alias, userID string) error {
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateKeys(keyAlias))
	if err != nil || st[keyAlias] == "" {
		return err
	}
	evs, err := p.pdus(ctx, []string{st[keyAlias]})
	if err != nil {
		return err
	}
	e := evs[st[keyAlias]]
	if e == nil {
		return nil
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(e.Content, &c) != nil {
		return nil
	}
	changed := false
	var cur string
	if raw, ok := c["alias"]; ok && json.Unmarshal(raw, &cur) == nil && cur == alias {
		delete(c, "alias")
		changed = true
	}
	var alts []json.RawMessage
	if raw, ok := c["alt_aliases"]; ok && json.Unmarshal(raw, &alts) == nil {
		kept := alts[:0]
		for _, a := range alts {
			var s string
			if json.Unmarshal(a, &s) == nil && s == alias {
				changed = true
				continue
			}
			kept = append(kept, a)
		}
		if len(kept) == 0 {
			delete(c, "alt_aliases")
		} else {
			b, _ := json.Marshal(kept)
			c["alt_aliases"] = b
		}
	}
	if !changed {
		return nil
	}
	content, err := json.Marshal(c)
	if err != nil {
		return err
	}
	empty := ""
	_, err = p.Send(ctx, roomID, Proto{Type: keyAlias.Type, StateKey: &empty, Sender: userID, Content: content}, nil)
	var me *core.Error
	if errors.As(err, &me) && me.Status < 500 {
		return nil
	}
	return err
}

// Aliases returns the local aliases of roomID, for a user who can read the
// room.
func (p *Pipeline) Aliases(ctx context.Context, roomID, userID string) ([]string, error) {
	if _, err := p.Access(ctx, roomID, userID); err != nil {
		return nil, err
	}
	d, err := p.directory()
	if err != nil {
		return nil, err
	}
	return d.Aliases(ctx, roomID)
}

// canSendState reports whether userID is joined to roomID with the power
// to send a state event of type typ.
func (p *Pipeline) canSendState(ctx context.Context, roomID, userID, typ string) (bool, error) {
	v, err := p.Version(ctx, roomID)
	if errors.Is(err, core.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil || m.Membership != eventauth.MembershipJoin {
		return false, err
	}
	pl, create, err := p.powerEvents(ctx, roomID)
	if err != nil {
		return false, err
	}
	level := eventauth.UserPowerLevel(v, userID, pl, create)
	need := int64(50)
	if pl != nil {
		need = requiredLevel(pl.Content, typ, true)
	}
	return level >= need, nil
}

// Visibility returns "public" or "private": whether roomID is in the
// published room directory. It returns M_NOT_FOUND for an unknown room.
func (p *Pipeline) Visibility(ctx context.Context, roomID string) (string, error) {
	info, err := p.stores.Rooms.Room(ctx, roomID)
	if errors.Is(err, core.ErrNotFound) {
		return "", core.ErrNotFound.WithMessage("unknown room %s", roomID)
	}
	if err != nil {
		return "", err
	}
	if info.IsPublic {
		return "public", nil
	}
	return "private", nil
}

// SetVisibility publishes roomID in the room directory or withdraws it, for
// a server admin or a member allowed to send m.room.canonical_alias.
func (p *Pipeline) SetVisibility(ctx context.Context, roomID, userID string, isAdmin bool, visibility string) error {
	public, err := parseVisibility(visibility)
	if err != nil {
		return err
	}
	d, err := p.directory()
	if err != nil {
		return err
	}
	if _, err := p.Visibility(ctx, roomID); err != nil {
		return err
	}
	if !isAdmin {
		ok, err := p.canSendState(ctx, roomID, userID, keyAlias.Type)
		if err != nil {
			return err
		}
		if !ok {
			return core.ErrForbidden.WithMessage("you may not change the directory visibility of %s", roomID)
		}
	}
	err = d.SetPublished(ctx, roomID, public)
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("unknown room %s", roomID)
	}
	return err
}

// parseVisibility reads a directory visibility: true for "public", false
// for "private", M_INVALID_PARAM otherwise.
func parseVisibility(visibility string) (bool, error) {
	switch visibility {
	case "public":
		return true, nil
	case "private":
		return false, nil
	}
	return false, core.ErrInvalidParam.WithMessage("visibility must be public or private")
}

// PublicRoom is one entry of the published room directory
// (PublishedRoomsChunk).
type PublicRoom struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	NumJoinedMembers int    `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	JoinRule         string `json:"join_rule,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// SetNetworkVisibility publishes roomID in the room directory of network
// of the application service service, or withdraws it (client-server API,
// "Application service room directories"). The caller has checked that
// the request is the service's.
func (p *Pipeline) SetNetworkVisibility(ctx context.Context, service, network, roomID, visibility string) error {
	public, err := parseVisibility(visibility)
	if err != nil {
		return err
	}
	d, err := p.directory()
	if err != nil {
		return err
	}
	err = d.SetNetworkPublished(ctx, service, network, roomID, public)
	if errors.Is(err, core.ErrNotFound) {
		return core.ErrNotFound.WithMessage("unknown room %s", roomID)
	}
	return err
}

// DirectoryList names a list of the published room directory: the
// server's own (the zero value), one network of an application service,
// or all of them together.
type DirectoryList struct {
	// AllNetworks is the server's list and every network's
	// (include_all_networks).
	AllNetworks bool
	// AppService and Network name one network's list
	// (third_party_instance_id).
	AppService, Network string
}

// PublicRooms returns the rooms of the server's own published room
// directory; see PublicRoomsIn.
func (p *Pipeline) PublicRooms(ctx context.Context, search string) ([]PublicRoom, error) {
	return p.PublicRoomsIn(ctx, DirectoryList{}, search)
}

// PublicRoomsIn returns the rooms of list whose name, topic or canonical
// alias contains search (case-insensitively; "" matches all), the most
// joined first, ties by room ID.
func (p *Pipeline) PublicRoomsIn(ctx context.Context, list DirectoryList, search string) ([]PublicRoom, error) {
	d, err := p.directory()
	if err != nil {
		return nil, err
	}
	var ids []string
	switch {
	case list.AppService != "":
		ids, err = d.NetworkPublishedRooms(ctx, list.AppService, list.Network)
	case list.AllNetworks:
		var nets []string
		if ids, err = d.PublishedRooms(ctx); err == nil {
			nets, err = d.NetworkPublishedRooms(ctx, "", "")
		}
		ids = append(ids, nets...)
		slices.Sort(ids)
		ids = slices.Compact(ids)
	default:
		ids, err = d.PublishedRooms(ctx)
	}
	if err != nil {
		return nil, err
	}
	search = strings.ToLower(search)
	out := make([]PublicRoom, 0, len(ids))
	for _, roomID := range ids {
		pr, err := p.publicRoom(ctx, roomID)
		if errors.Is(err, core.ErrNotFound) {
			continue // published but holding no events here
		}
		if err != nil {
			return nil, err
		}
		if search != "" && !strings.Contains(strings.ToLower(pr.Name+"\x00"+pr.Topic+"\x00"+pr.CanonicalAlias), search) {
			continue
		}
		out = append(out, pr)
	}
	// sort.Slice, not slices.SortFunc: one sorting code for all element types
	// instead of a ~20 KB copy per struct type in the browser build.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.NumJoinedMembers != b.NumJoinedMembers {
			return a.NumJoinedMembers > b.NumJoinedMembers
		}
		return a.RoomID < b.RoomID
	})
	return out, nil
}

// publicRoom summarises roomID's current state.
func (p *Pipeline) publicRoom(ctx context.Context, roomID string) (PublicRoom, error) {
	pr := PublicRoom{RoomID: roomID}
	state, err := p.stores.State.CurrentState(ctx, roomID, core.StateFilter{Types: map[string][]string{
		"m.room.name": {""}, "m.room.topic": {""}, "m.room.canonical_alias": {""}, "m.room.avatar": {""},
		"m.room.history_visibility": {""}, "m.room.guest_access": {""}, "m.room.join_rules": {""},
		"m.room.create": {""}, "m.room.member": nil,
	}})
	if err != nil {
		return pr, err
	}
	ids := make([]string, 0, len(state))
	for _, id := range state {
		ids = append(ids, id)
	}
	evs, err := p.pdus(ctx, ids)
	if err != nil {
		return pr, err
	}
	str := func(typ, field string) string {
		e := evs[state[core.StateKey{Type: typ}]]
		if e == nil {
			return ""
		}
		return contentString(e.Content, field)
	}
	pr.Name = str("m.room.name", "name")
	pr.Topic = str("m.room.topic", "topic")
	pr.CanonicalAlias = str("m.room.canonical_alias", "alias")
	pr.AvatarURL = str("m.room.avatar", "url")
	pr.WorldReadable = str("m.room.history_visibility", "history_visibility") == HistoryWorldReadable
	pr.GuestCanJoin = str("m.room.guest_access", "guest_access") == "can_join"
	pr.JoinRule = str("m.room.join_rules", "join_rule")
	pr.RoomType = str("m.room.create", "type")
	for k, id := range state {
		if k.Type == eventauth.TypeMember && evs[id] != nil && contentString(evs[id].Content, "membership") == eventauth.MembershipJoin {
			pr.NumJoinedMembers++
		}
	}
	return pr, nil
}

// contentString returns content[field] if it is a string, "" otherwise.
func contentString(content json.RawMessage, field string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(content, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[field], &s) != nil {
		return ""
	}
	return s
}
