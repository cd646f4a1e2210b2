package pushgateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

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
type PushingEventStore struct {
	core.EventStore
	State core.RoomStateStore
	Rooms core.RoomStore
	Hook  core.EventPushHook
	// ServerName is the local server: its users are the recipients.
	ServerName string
	// Logger receives hook failures; nil uses slog.Default().
	Logger *slog.Logger
}

// PersistEvents implements core.EventStore.
func (s *PushingEventStore) PersistEvents(ctx context.Context, events []core.NewEvent, opts core.PersistOptions) ([]int64, error) {
	so, err := s.EventStore.PersistEvents(ctx, events, opts)
	if err != nil || opts.Backfilled || s.Hook == nil {
		return so, err
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

// PushRoom reads what the push rules need of roomID's current state for an
// event by sender.
func (s *PushingEventStore) PushRoom(ctx context.Context, roomID, sender string) (core.PushRoom, error) {
	room := core.PushRoom{Recipients: map[string]string{}}
	info, err := s.Rooms.Room(ctx, roomID)
	if err != nil {
		return room, err
	}
	v, err := roomversion.Lookup(roomversion.ID(info.RoomVersion))
	if err != nil {
		return room, fmt.Errorf("room %s: %w", roomID, err)
	}
	state, err := s.State.CurrentState(ctx, roomID, core.StateTypes("m.room.member", "m.room.power_levels", "m.room.create", "m.room.name", "m.room.canonical_alias"))
	if err != nil {
		return room, err
	}
	ids := make([]string, 0, len(state))
	for _, id := range state {
		ids = append(ids, id)
	}
	stored, err := s.EventStore.Events(ctx, ids)
	if err != nil {
		return room, err
	}
	var create, powerLevels *pdu.PDU
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
			room.MemberCount++
			if s.isLocal(key.StateKey) {
				room.Recipients[key.StateKey] = name
			}
			if key.StateKey == sender {
				room.SenderDisplayName = name
			}
		case "m.room.power_levels", "m.room.create":
			p, err := pdu.Parse(v, se.JSON)
			if err != nil {
				continue
			}
			if key.Type == "m.room.create" {
				create = p
			} else {
				powerLevels = p
				room.PowerLevels = p.Content
			}
		case "m.room.name":
			room.RoomName = contentString(se.JSON, "name")
		case "m.room.canonical_alias":
			room.RoomAlias = contentString(se.JSON, "alias")
		}
	}
	switch {
	case create != nil:
		room.SenderPowerLevel = eventauth.UserPowerLevel(v, sender, powerLevels, create)
	case room.PowerLevels != nil:
		room.SenderPowerLevel = userLevel(room.PowerLevels, sender)
	}
	return room, nil
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
