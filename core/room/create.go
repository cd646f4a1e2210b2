package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// Room creation presets.
const (
	PresetPrivateChat        = "private_chat"
	PresetTrustedPrivateChat = "trusted_private_chat"
	PresetPublicChat         = "public_chat"
)

// CreateRequest is the body of POST /createRoom; Creator is the user
// making it.
type CreateRequest struct {
	Creator                   string          `json:"-"`
	Visibility                string          `json:"visibility"`
	RoomAliasName             string          `json:"room_alias_name"`
	Name                      *string         `json:"name"`
	Topic                     *string         `json:"topic"`
	Invite                    []string        `json:"invite"`
	RoomVersion               string          `json:"room_version"`
	CreationContent           json.RawMessage `json:"creation_content"`
	InitialState              []StateProto    `json:"initial_state"`
	Preset                    string          `json:"preset"`
	IsDirect                  bool            `json:"is_direct"`
	PowerLevelContentOverride json.RawMessage `json:"power_level_content_override"`

	// remoteInvites lets Invite name users of other servers: the plan
	// leaves their invites out of the room's first write, and
	// Federation.CreateRoom sends them through their servers after it.
	remoteInvites bool
}

// StateProto is one entry of createRoom's initial_state.
type StateProto struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// presetState is what a preset sets (client-server API, createRoom).
type presetState struct {
	joinRule, historyVisibility, guestAccess string
}

var presets = map[string]presetState{
	PresetPrivateChat:        {"invite", "shared", "can_join"},
	PresetTrustedPrivateChat: {"invite", "shared", "can_join"},
	PresetPublicChat:         {"public", "shared", "forbidden"},
}

// Keys of state the createRoom steps set.
var (
	keyCreate      = core.StateKey{Type: eventauth.TypeCreate}
	keyPowerLevels = core.StateKey{Type: eventauth.TypePowerLevels}
	keyJoinRules   = core.StateKey{Type: eventauth.TypeJoinRules}
	keyHistory     = core.StateKey{Type: "m.room.history_visibility"}
	keyGuestAccess = core.StateKey{Type: "m.room.guest_access"}
	keyName        = core.StateKey{Type: "m.room.name"}
	keyTopic       = core.StateKey{Type: "m.room.topic"}
	keyAlias       = core.StateKey{Type: "m.room.canonical_alias"}
)

// errNoFederation is returned for anything that needs another server.
func errNoFederation(what string) error {
	return core.ErrForbidden.WithMessage("%s needs federation, which this server does not offer yet", what)
}

// CreateRoom creates a room as the createRoom endpoint describes, in its
// order: the create event, the creator's join, the power levels, the
// canonical alias, the preset's join rules, history visibility and guest
// access, initial_state, name and topic, then the invites. Every event is
// authorised against the state the previous ones made; the room, its alias
// and its events are persisted in one storage write. It returns the room
// ID, or a *core.Error: M_UNSUPPORTED_ROOM_VERSION, M_ROOM_IN_USE for a
// taken alias, M_INVALID_ROOM_STATE when the requested state fails the
// auth rules (the message names the rule), M_BAD_JSON or M_INVALID_PARAM
// for a malformed request, M_INVALID_PARAM for an invite list longer than
// Config.MaxCreateRoomInvites or an initial_state longer than
// MaxCreateRoomInitialState.
func (p *Pipeline) CreateRoom(ctx context.Context, req CreateRequest) (string, error) {
	roomID, _, err := p.createRoom(ctx, req)
	return roomID, err
}

// createRoom is CreateRoom; it also returns the invitees of other servers
// that req.remoteInvites let through, not yet invited.
func (p *Pipeline) createRoom(ctx context.Context, req CreateRequest) (string, []string, error) {
	roomID, plan, err := p.createPlanned(ctx, req)
	if err != nil {
		return "", nil, err
	}
	return roomID, plan.remoteInvitees, nil
}

func (p *Pipeline) createPlanned(ctx context.Context, req CreateRequest) (string, *roomPlan, error) {
	if err := p.cfg.Modules.UserMayCreateRoom(ctx, req.Creator); err != nil {
		return "", nil, err
	}
	plan, err := p.planRoom(ctx, req)
	if err != nil {
		return "", nil, err
	}
	v := plan.v
	roomID, events, built, ids, err := p.buildRoom(plan)
	if err != nil {
		return "", nil, err
	}

	// The room row, its alias and its events in one write: a lost race
	// for the alias, or a crash, leaves nothing behind.
	opts := core.PersistOptions{
		NewRoom:      &core.RoomInfo{RoomID: roomID, RoomVersion: string(v.ID), Creator: req.Creator, IsPublic: plan.public},
		CurrentState: []core.CurrentStateDelta{{RoomID: roomID, Changes: ids}},
	}
	if plan.alias != "" {
		opts.NewAliases = []core.RoomAlias{{Alias: plan.alias, RoomID: roomID, Creator: req.Creator}}
	}
	unlock := p.lockRoom(roomID)
	defer unlock()
	if v.RoomIDFromCreateEvent {
		// The room ID is the create event's hash: a create event that
		// repeats one built before (the same sender, content and
		// timestamp, as after a clock set back) would make a room that
		// exists already, and must not be stored into it.
		if _, err := p.stores.Rooms.Room(ctx, roomID); err == nil {
			return "", nil, core.ErrUnknown.WithStatus(409).WithMessage(
				"a room with the ID %s exists already; try again", roomID)
		} else if !errors.Is(err, core.ErrNotFound) {
			return "", nil, err
		}
	}
	if _, err := p.stores.Events.PersistEvents(ctx, events, opts); err != nil {
		if errors.Is(err, core.ErrRoomInUse) {
			return "", nil, core.ErrRoomInUse.WithMessage("%s is already taken", plan.alias)
		}
		return "", nil, err
	}
	for _, ev := range built {
		p.cache.put(ev)
	}
	last := built[len(built)-1]
	p.mu.Lock()
	p.setVersionLocked(roomID, v)
	p.mu.Unlock()
	p.setTip(roomID, &tip{
		exts:    []core.EventRef{{EventID: last.EventID, Depth: last.Depth}},
		groupOf: last.EventID,
		known:   maps.Clone(ids),
	})
	p.notify()
	return roomID, plan, nil
}

// buildRoom builds the events of plan in order, each authorised against
// the state the ones before it made, and returns the room ID, the events
// for storage (each with a state group that is the delta from the group of
// the event before it in the same batch), the events themselves and the
// room's state after the last one.
func (p *Pipeline) buildRoom(plan *roomPlan) (string, []core.NewEvent, []*pdu.PDU, core.StateMap, error) {
	v := plan.v
	var (
		roomID string
		state  = eventauth.StateMap{}
		ids    = core.StateMap{}
		events []core.NewEvent
		prev   []*pdu.PDU
		built  []*pdu.PDU
	)
	for i, pr := range plan.protos {
		if err := checkProto(v, &pr); err != nil {
			return "", nil, nil, nil, err
		}
		if i == 0 && !v.RoomIDFromCreateEvent {
			roomID = "!" + rand.Text()[:18] + ":" + p.cfg.ServerName
		}
		if i == 0 && v.RoomIDFromCreateEvent {
			pr.Timestamp = p.createTimestamp(pr.Timestamp)
		}
		ev, js, err := p.build(v, roomID, pr, prev, state.Lookup)
		if err != nil {
			var me *core.Error
			if errors.As(err, &me) && me.ErrCode == core.ErrForbidden.ErrCode {
				err = core.ErrInvalidRoomState.WithMessage("event %d of the new room (%s): %s", i+1, pr.Type, me.Message)
			}
			return "", nil, nil, nil, err
		}
		if i == 0 && v.RoomIDFromCreateEvent {
			if roomID, err = ev.RoomIDFor(v); err != nil {
				return "", nil, nil, nil, err
			}
		}
		meta := Metadata{ReplacesState: ids[pr.key()]}
		ne := newEvent(v, ev, js, meta, p.now())
		ne.RoomID = roomID
		state[eventauth.StateKey(pr.key())] = ev
		ids[pr.key()] = ev.EventID
		// Each event's group is its predecessor's with one key changed, as
		// for any other state change: a new room costs one row per event,
		// not one snapshot of the whole state per event.
		ne.NewStateGroup = &core.StateGroupDelta{Changes: core.StateMap{pr.key(): ev.EventID}}
		if len(prev) > 0 {
			ne.NewStateGroup.PrevEvent = prev[0].EventID
		}
		events = append(events, ne)
		built = append(built, ev)
		prev = []*pdu.PDU{ev}
	}
	return roomID, events, built, ids, nil
}

// createTimestamp returns the origin_server_ts for a new room's create
// event: ts when it is set (an application service's timestamp), else now,
// moved past the last one built so that two rooms created in the same
// millisecond by the same user still get different create events, and so
// different room IDs where the ID is the create event's hash.
func (p *Pipeline) createTimestamp(ts int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ts > 0 {
		p.lastCreateTS = max(p.lastCreateTS, ts)
		return ts
	}
	ts = max(p.now(), p.lastCreateTS+1)
	p.lastCreateTS = ts
	return ts
}

// roomPlan is a createRoom request turned into the events to send.
type roomPlan struct {
	v      *roomversion.Version
	protos []Proto
	alias  string
	public bool
	// remoteInvitees are the invitees of other servers, whose invites
	// are not among protos.
	remoteInvitees []string
}

// planRoom checks a createRoom request and lists its events in order.
func (p *Pipeline) planRoom(ctx context.Context, req CreateRequest) (*roomPlan, error) {
	vid := roomversion.ID(req.RoomVersion)
	if vid == "" {
		vid = p.cfg.DefaultRoomVersion
	}
	v, err := roomversion.Lookup(vid)
	if err != nil {
		return nil, core.ErrUnsupportedRoomVers.WithMessage("room version %q is not supported by this server", req.RoomVersion)
	}
	plan := &roomPlan{v: v}
	switch req.Visibility {
	case "", "private":
	case "public":
		plan.public = true
	default:
		return nil, core.ErrInvalidParam.WithMessage("visibility must be public or private")
	}
	preset := req.Preset
	if preset == "" {
		preset = PresetPrivateChat
		if plan.public {
			preset = PresetPublicChat
		}
	}
	ps, ok := presets[preset]
	if !ok {
		return nil, core.ErrInvalidParam.WithMessage("unknown preset %q", preset)
	}
	creator := req.Creator
	if len(req.InitialState) > MaxCreateRoomInitialState {
		return nil, core.ErrInvalidParam.WithMessage(
			"initial_state lists %d events; this server creates a room with at most %d (send the others once the room exists)",
			len(req.InitialState), MaxCreateRoomInitialState)
	}
	if len(req.Invite) > p.cfg.MaxCreateRoomInvites {
		// M_INVALID_PARAM (400), not M_LIMIT_EXCEEDED (429): a client
		// retries a 429 after retry_after_ms, and this request would fail
		// again however long it waited.
		return nil, core.ErrInvalidParam.WithMessage(
			"invite lists %d users; this server creates a room with at most %d invites (invite the others once the room exists)",
			len(req.Invite), p.cfg.MaxCreateRoomInvites)
	}
	var invitees []string
	for _, u := range req.Invite {
		if _, err := id.ParseUserID(u); err != nil {
			return nil, core.ErrInvalidParam.WithMessage("invite: %q is not a user ID", u)
		}
		if !p.isLocal(u) && !req.remoteInvites {
			return nil, errNoFederation("inviting " + u)
		}
		if u != creator && !slices.Contains(invitees, u) {
			invitees = append(invitees, u)
			if !p.isLocal(u) {
				plan.remoteInvitees = append(plan.remoteInvitees, u)
			}
		}
	}
	if req.RoomAliasName != "" {
		if p.stores.Directory == nil {
			return nil, core.ErrUnrecognized.WithMessage("room aliases are not available")
		}
		alias := "#" + req.RoomAliasName + ":" + p.cfg.ServerName
		if _, err := id.ParseRoomAlias(alias); err != nil {
			return nil, core.ErrInvalidParam.WithMessage("room_alias_name %q does not make a valid alias", req.RoomAliasName)
		}
		_, _, err := p.stores.Directory.ResolveAlias(ctx, alias)
		switch {
		case err == nil:
			return nil, core.ErrRoomInUse.WithMessage("%s is already taken", alias)
		case !errors.Is(err, core.ErrNotFound):
			return nil, err
		}
		plan.alias = alias
	}

	// 1. m.room.create.
	create, err := createContent(v, creator, req.CreationContent, preset, invitees)
	if err != nil {
		return nil, err
	}
	add := func(typ, stateKey string, content any) error {
		raw, ok := content.(json.RawMessage)
		if !ok {
			b, err := json.Marshal(content)
			if err != nil {
				return err
			}
			raw = b
		}
		sk := stateKey
		plan.protos = append(plan.protos, Proto{Type: typ, StateKey: &sk, Sender: creator, Content: raw})
		return nil
	}
	if err := add(eventauth.TypeCreate, "", create); err != nil {
		return nil, err
	}
	// 2. The creator's join.
	// The creator's join carries their profile, as every local join does.
	member, err := p.memberContent(ctx, eventauth.MembershipJoin, creator, "")
	if err != nil {
		return nil, err
	}
	if err := add(eventauth.TypeMember, creator, member); err != nil {
		return nil, err
	}

	initial := make([]StateProto, 0, len(req.InitialState))
	inInitial := map[core.StateKey]bool{}
	var plBase json.RawMessage
	for _, sp := range req.InitialState {
		if sp.Type == "" {
			return nil, core.ErrBadJSON.WithMessage("initial_state entries need a type")
		}
		k := core.StateKey{Type: sp.Type, StateKey: sp.StateKey}
		switch {
		case k.Type == eventauth.TypeCreate:
			return nil, core.ErrInvalidParam.WithMessage("initial_state cannot hold m.room.create; use creation_content")
		case k == keyPowerLevels:
			plBase = sp.Content // replaces the default power levels at step 3
			continue
		case k == keyName && req.Name != nil, k == keyTopic && req.Topic != nil:
			continue // overridden by name and topic
		}
		inInitial[k] = true
		initial = append(initial, sp)
	}

	// 3. Power levels, with power_level_content_override on top.
	pl, err := powerLevelsContent(v, creator, preset, invitees, plBase, req.PowerLevelContentOverride)
	if err != nil {
		return nil, err
	}
	if err := add(eventauth.TypePowerLevels, "", pl); err != nil {
		return nil, err
	}
	// 4. The canonical alias.
	if plan.alias != "" {
		if err := add(keyAlias.Type, "", map[string]string{"alias": plan.alias}); err != nil {
			return nil, err
		}
	}
	// 5. The preset's events, unless initial_state sets them.
	for _, e := range []struct {
		key   core.StateKey
		field string
		value string
	}{
		{keyJoinRules, "join_rule", ps.joinRule},
		{keyHistory, "history_visibility", ps.historyVisibility},
		{keyGuestAccess, "guest_access", ps.guestAccess},
	} {
		if inInitial[e.key] {
			continue
		}
		if err := add(e.key.Type, "", map[string]string{e.field: e.value}); err != nil {
			return nil, err
		}
	}
	// 6. initial_state, in order.
	for _, sp := range initial {
		if err := add(sp.Type, sp.StateKey, sp.Content); err != nil {
			return nil, err
		}
	}
	// 7. Name and topic.
	if req.Name != nil {
		if err := add(keyName.Type, "", map[string]string{"name": *req.Name}); err != nil {
			return nil, err
		}
	}
	if req.Topic != nil {
		topic := map[string]any{
			"topic":   *req.Topic,
			"m.topic": map[string]any{"m.text": []map[string]string{{"body": *req.Topic, "mimetype": "text/plain"}}},
		}
		if err := add(keyTopic.Type, "", topic); err != nil {
			return nil, err
		}
	}
	// 8. Invites.
	for _, u := range invitees {
		if slices.Contains(plan.remoteInvitees, u) {
			continue // invited through their server once the room exists
		}
		c := map[string]any{"membership": eventauth.MembershipInvite}
		if req.IsDirect {
			c["is_direct"] = true
		}
		if err := add(eventauth.TypeMember, u, c); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// MaxCreateRoomInitialState bounds createRoom's initial_state. Each entry
// is an event of the new room written in the request, and a room's state
// groups take a snapshot of its whole state every so many events, so the
// rows one request writes grow with the square of its events; invites are
// bounded by Config.MaxCreateRoomInvites for the same reason.
const MaxCreateRoomInitialState = 250

// createContent builds the content of the m.room.create event: the
// request's creation_content with room_version set, creator set (room
// versions 1–10) or removed (11 and later), and for trusted_private_chat in
// versions with privileged creators the invitees added to
// additional_creators.
func createContent(v *roomversion.Version, creator string, extra json.RawMessage, preset string, invitees []string) (map[string]json.RawMessage, error) {
	c := map[string]json.RawMessage{}
	if len(extra) > 0 && string(extra) != "null" {
		if err := json.Unmarshal(extra, &c); err != nil {
			return nil, core.ErrBadJSON.WithMessage("creation_content must be an object")
		}
	}
	c["room_version"] = mustJSON(string(v.ID))
	if v.ImplicitRoomCreator {
		delete(c, "creator")
	} else {
		c["creator"] = mustJSON(creator)
	}
	if v.PrivilegedCreators && preset == PresetTrustedPrivateChat && len(invitees) > 0 {
		var extraCreators []string
		if raw, ok := c["additional_creators"]; ok {
			if err := json.Unmarshal(raw, &extraCreators); err != nil {
				return nil, core.ErrBadJSON.WithMessage("creation_content.additional_creators must be a list of user IDs")
			}
		}
		for _, u := range invitees {
			if !slices.Contains(extraCreators, u) {
				extraCreators = append(extraCreators, u)
			}
		}
		c["additional_creators"] = mustJSON(extraCreators)
	}
	return c, nil
}

// powerLevelsContent builds the initial m.room.power_levels content: base
// (from initial_state) or the default, with override's top-level keys on
// top. The creator has 100 in room versions 1–11 (and so do the invitees of
// a trusted_private_chat); from version 12 creators are not listed.
func powerLevelsContent(v *roomversion.Version, creator, preset string, invitees []string, base, override json.RawMessage) (map[string]json.RawMessage, error) {
	c := map[string]json.RawMessage{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &c); err != nil {
			return nil, core.ErrBadJSON.WithMessage("initial_state m.room.power_levels content must be an object")
		}
	} else {
		users := map[string]int{}
		if !v.PrivilegedCreators {
			users[creator] = 100
			if preset == PresetTrustedPrivateChat {
				for _, u := range invitees {
					users[u] = 100
				}
			}
		}
		tombstone := 100
		if v.PrivilegedCreators {
			// Room version 12: above state_default, so that only creators
			// can upgrade by default.
			tombstone = 150
		}
		invite := 50
		if preset != PresetPublicChat {
			invite = 0
		}
		def := map[string]any{
			"users":          users,
			"users_default":  0,
			"events_default": 0,
			"state_default":  50,
			"ban":            50,
			"kick":           50,
			"redact":         50,
			"invite":         invite,
			"historical":     100,
			"notifications":  map[string]int{"room": 50},
			"events": map[string]int{
				"m.room.name":               50,
				"m.room.power_levels":       100,
				"m.room.history_visibility": 100,
				"m.room.canonical_alias":    50,
				"m.room.avatar":             50,
				"m.room.tombstone":          tombstone,
				"m.room.server_acl":         100,
				"m.room.encryption":         100,
			},
		}
		for k, val := range def {
			c[k] = mustJSON(val)
		}
	}
	if len(override) > 0 && string(override) != "null" {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(override, &o); err != nil {
			return nil, core.ErrBadJSON.WithMessage("power_level_content_override must be an object")
		}
		maps.Copy(c, o)
	}
	return c, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on values that always marshal
	}
	return b
}
