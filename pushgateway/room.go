package pushgateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
)

// PushingEventStore wraps the event store events are persisted through (by
// the room pipeline, and by federation): after PersistEvents has stored
// live events, it reads each one's room from the current state (joined
// members and their display names, power levels, name and alias) and hands
// the event to Hook, before the caller wakes /sync. Backfilled events,
// outliers, rejected and soft-failed events are not pushed. A failing hook
// is logged: the events are stored all the same.
//
// What it reads of a room's state is kept until a batch persisted through
// it changes that room's current state: every writer of events must go
// through the same PushingEventStore.
type PushingEventStore struct {
	core.EventStore
	State core.RoomStateStore
	Rooms core.RoomStore
	Hook  core.EventPushHook
	// ServerName is the local server: its users are the recipients.
	ServerName string
	// Logger receives hook failures; nil uses slog.Default().
	Logger *slog.Logger

	mu    sync.Mutex
	cache map[string]*roomPush
}

// PersistEvents implements core.EventStore.
func (s *PushingEventStore) PersistEvents(ctx context.Context, events []core.NewEvent, opts core.PersistOptions) ([]int64, error) {
	so, err := s.EventStore.PersistEvents(ctx, events, opts)
	if err != nil {
		return so, err
	}
	s.invalidate(opts)
	if opts.Backfilled || s.Hook == nil {
		return so, nil
	}
	for i := range events {
		ev := &events[i]
		if ev.Outlier || ev.Rejected != "" || ev.SoftFailed {
			continue
		}
		if err := s.push(ctx, ev); err != nil {
			log := s.Logger
			if log == nil {
				log = slog.Default()
			}
			log.ErrorContext(ctx, "push rules on a new event", "event_id", ev.EventID, "room_id", ev.RoomID, "err", err)
		}
	}
	return so, nil
}

func (s *PushingEventStore) push(ctx context.Context, ev *core.NewEvent) error {
	room, err := s.PushRoom(ctx, ev.RoomID, ev.Sender)
	if err != nil {
		return err
	}
	if ev.Type == "m.room.member" && ev.StateKey != nil && ev.Membership == core.MembershipInvite && s.isLocal(*ev.StateKey) {
		if _, ok := room.Recipients[*ev.StateKey]; !ok {
			room.Recipients[*ev.StateKey] = ""
		}
	}
	return s.Hook.OnEventPersisted(ctx, ev.RoomID, WithEventID(ev.JSON, ev.EventID), room)
}

func (s *PushingEventStore) isLocal(userID string) bool {
	return strings.HasSuffix(userID, ":"+s.ServerName)
}

// WithEventID returns event JSON with an event_id member first (events of
// room versions 3 and later do not carry their ID).
func WithEventID(js []byte, eventID string) []byte {
	q, _ := json.Marshal(eventID)
	body := strings.TrimLeft(string(js), " \t\r\n")
	if !strings.HasPrefix(body, "{") {
		return js
	}
	rest := strings.TrimLeft(body[1:], " \t\r\n")
	sep := ","
	if strings.HasPrefix(rest, "}") {
		sep = ""
	}
	return []byte(`{"event_id":` + string(q) + sep + rest)
}

// roomPush is what PushRoom keeps of a room's current state.
type roomPush struct {
	version     *roomversion.Version
	memberCount int
	names       map[string]string // joined members' display names
	create, pl  *pdu.PDU
	plContent   json.RawMessage
	name, alias string
}

// maxCachedRooms bounds the cache of rooms' push state.
const maxCachedRooms = 1024

// invalidate drops the cached state of the rooms whose current state the
// persisted batch changed.
func (s *PushingEventStore) invalidate(opts core.PersistOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range opts.CurrentState {
		if len(d.Changes) > 0 {
			delete(s.cache, d.RoomID)
		}
	}
}

// PushRoom reads what the push rules need of roomID's current state for an
// event by sender. The state read is kept until a batch persisted through
// s changes the room's current state.
func (s *PushingEventStore) PushRoom(ctx context.Context, roomID, sender string) (core.PushRoom, error) {
	s.mu.Lock()
	rp := s.cache[roomID]
	s.mu.Unlock()
	if rp == nil {
		var err error
		if rp, err = s.readRoom(ctx, roomID); err != nil {
			return core.PushRoom{}, err
		}
		s.mu.Lock()
		if s.cache == nil || len(s.cache) >= maxCachedRooms {
			s.cache = map[string]*roomPush{}
		}
		s.cache[roomID] = rp
		s.mu.Unlock()
	}
	room := core.PushRoom{
		MemberCount: rp.memberCount, Recipients: map[string]string{}, PowerLevels: rp.plContent,
		SenderDisplayName: rp.names[sender], RoomName: rp.name, RoomAlias: rp.alias,
	}
	for u, name := range rp.names {
		if s.isLocal(u) {
			room.Recipients[u] = name
		}
	}
	switch {
	case rp.create != nil:
		room.SenderPowerLevel = eventauth.UserPowerLevel(rp.version, sender, rp.pl, rp.create)
	case rp.plContent != nil:
		room.SenderPowerLevel = userLevel(rp.plContent, sender)
	}
	return room, nil
}

// readRoom reads a room's push state from its current state.
func (s *PushingEventStore) readRoom(ctx context.Context, roomID string) (*roomPush, error) {
	info, err := s.Rooms.Room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	v, err := roomversion.Lookup(roomversion.ID(info.RoomVersion))
	if err != nil {
		return nil, fmt.Errorf("room %s: %w", roomID, err)
	}
	state, err := s.State.CurrentState(ctx, roomID, core.StateTypes("m.room.member", "m.room.power_levels", "m.room.create", "m.room.name", "m.room.canonical_alias"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(state))
	for _, id := range state {
		ids = append(ids, id)
	}
	stored, err := s.EventStore.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	rp := &roomPush{version: v, names: map[string]string{}}
	for key, id := range state {
		se := stored[id]
		if se == nil {
			continue
		}
		switch key.Type {
		case "m.room.member":
			var m struct {
				Content struct {
					Membership  string `json:"membership"`
					DisplayName any    `json:"displayname"`
				} `json:"content"`
			}
			if json.Unmarshal(se.JSON, &m) != nil || m.Content.Membership != core.MembershipJoin {
				continue
			}
			name, _ := m.Content.DisplayName.(string)
			rp.memberCount++
			rp.names[key.StateKey] = name
		case "m.room.power_levels", "m.room.create":
			p, err := pdu.Parse(v, se.JSON)
			if err != nil {
				continue
			}
			if key.Type == "m.room.create" {
				rp.create = p
			} else {
				rp.pl, rp.plContent = p, p.Content
			}
		case "m.room.name":
			rp.name = contentString(se.JSON, "name")
		case "m.room.canonical_alias":
			rp.alias = contentString(se.JSON, "alias")
		}
	}
	return rp, nil
}

// userLevel reads a user's level from power levels content when the create
// event is not at hand: users[user], else users_default, else 0.
func userLevel(content json.RawMessage, user string) int64 {
	var pl struct {
		Users        map[string]json.Number `json:"users"`
		UsersDefault json.Number            `json:"users_default"`
	}
	if json.Unmarshal(content, &pl) != nil {
		return 0
	}
	n, ok := pl.Users[user]
	if !ok {
		n = pl.UsersDefault
	}
	l, _ := n.Int64()
	return l
}

// contentString reads content.<key> of an event as a string ("" if absent).
func contentString(js []byte, key string) string {
	var e struct {
		Content map[string]any `json:"content"`
	}
	if json.Unmarshal(js, &e) != nil {
		return ""
	}
	s, _ := e.Content[key].(string)
	return s
}
