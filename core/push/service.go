package push

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// Notification is an event that notifies one user, as Service.Evaluate
// found it.
type Notification struct {
	UserID  string
	RoomID  string
	EventID string
	// Thread is the event's thread as receipts name it: the root of its
	// m.thread relation, else "main".
	Thread string
	// Event is the event's JSON with its event_id.
	Event   []byte
	Actions Actions
	Room    RoomContext
	// TS is when the notification was found, in milliseconds since the
	// epoch (0: when it is recorded).
	TS int64
}

// StateFunc reads roomID's version and its current state events of the
// given types. It returns an error (wrapping the caller's not-found error)
// for an unknown room.
type StateFunc func(ctx context.Context, roomID string, types []string) (roomVersion string, events []StateEvent, err error)

// RuleSource gives a user's push rules, compiled.
type RuleSource interface {
	// Evaluator returns userID's ruleset compiled for evaluation.
	Evaluator(ctx context.Context, userID string) (*Evaluator, error)
}

// Deliverer hands recorded notifications on (to push gateways).
type Deliverer interface {
	Deliver(ctx context.Context, notes []Notification) error
}

// Config are what a Service works with. ServerName, State and Rules are
// required; Deliverer is optional.
type Config struct {
	// ServerName is the local server: its users are the recipients.
	ServerName string
	State      StateFunc
	Rules      RuleSource
	Deliverer  Deliverer
}

// Service runs the push rules of a room's local members on each new event
// of the room before it is stored (the event's own write records the
// notifications, so an event is never stored without them), and hands the
// notifications to the deliverer once the write is committed. It keeps
// what it read of each room's state until Forget is called for the room:
// every change of a room's current state must be reported (the
// event-persisting path does it after commit).
type Service struct {
	cfg Config

	mu    sync.Mutex
	cache map[string]*RoomState
}

// maxCachedRooms bounds the cache of rooms' push state.
const maxCachedRooms = 1024

// NewService returns a Service over cfg.
func NewService(cfg Config) (*Service, error) {
	if cfg.ServerName == "" || cfg.State == nil || cfg.Rules == nil {
		return nil, errors.New("push: a service needs the server name, room state and rules")
	}
	return &Service{cfg: cfg}, nil
}

func (s *Service) isLocal(userID string) bool {
	return strings.HasSuffix(userID, ":"+s.cfg.ServerName)
}

// Forget drops what the service keeps of roomID's state: call it after a
// change of the room's current state is committed.
func (s *Service) Forget(roomID string) {
	s.mu.Lock()
	delete(s.cache, roomID)
	s.mu.Unlock()
}

// Room reads what the push rules need of roomID's current state for an
// event by sender.
func (s *Service) Room(ctx context.Context, roomID, sender string) (RoomContext, error) {
	rs, err := s.roomState(ctx, roomID)
	if err != nil {
		return RoomContext{}, err
	}
	return rs.Context(sender, s.isLocal), nil
}

// NotifiesNoOne reports whether an event by sender in roomID, other than
// an m.room.member event, notifies no one as the room's current state
// stands: no local member but the sender is joined. The event's JSON need
// not be read then (most messages of a room of one local user).
func (s *Service) NotifiesNoOne(ctx context.Context, roomID, sender string) (bool, error) {
	rs, err := s.roomState(ctx, roomID)
	if err != nil {
		return false, err
	}
	return !rs.HasRecipient(sender, s.isLocal), nil
}

// roomState returns what the service keeps of roomID's current state,
// reading it first if it has none.
func (s *Service) roomState(ctx context.Context, roomID string) (*RoomState, error) {
	s.mu.Lock()
	rs := s.cache[roomID]
	s.mu.Unlock()
	if rs == nil {
		version, events, err := s.cfg.State(ctx, roomID, StateTypes)
		if err != nil {
			return nil, err
		}
		if rs, err = ReadRoomState(version, events); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.cache == nil || len(s.cache) >= maxCachedRooms {
			s.cache = map[string]*RoomState{}
		}
		s.cache[roomID] = rs
		s.mu.Unlock()
	}
	return rs, nil
}

// Evaluate runs the push rules on a new live event of roomID (its JSON in
// federation format, with or without event_id) and returns the
// notifications, for the event's write to record: the joined local
// members, and the local target of an invite, are its recipients. state,
// when not nil, is the room's state to evaluate in (the state the event's
// batch leaves, when the batch changes it); nil uses the room's current
// state.
func (s *Service) Evaluate(ctx context.Context, roomID, eventID string, event []byte, state *RoomState) ([]Notification, error) {
	js := WithEventID(event, eventID)
	ev, err := NewEvent(js)
	if err != nil {
		return nil, err
	}
	sender, _ := ev.String([]string{"sender"})
	var room RoomContext
	if state != nil {
		room = state.Context(sender, s.isLocal)
	} else if room, err = s.Room(ctx, roomID, sender); err != nil {
		return nil, err
	}
	if typ, _ := ev.String([]string{"type"}); typ == "m.room.member" {
		target, hasKey := ev.String([]string{"state_key"})
		membership, _ := ev.String([]string{"content", "membership"})
		if hasKey && membership == "invite" && s.isLocal(target) {
			if _, ok := room.Recipients[target]; !ok {
				room.Recipients[target] = ""
			}
		}
	}
	return s.evaluate(ctx, roomID, eventID, js, ev, room)
}

// Notify evaluates event (its JSON with event_id) of roomID for each of
// room.Recipients but the sender against their push rules and returns the
// notifications, as Evaluate does in a room context the caller read.
func (s *Service) Notify(ctx context.Context, roomID string, event []byte, room RoomContext) ([]Notification, error) {
	ev, err := NewEvent(event)
	if err != nil {
		return nil, err
	}
	eventID, _ := ev.String([]string{"event_id"})
	return s.evaluate(ctx, roomID, eventID, event, ev, room)
}

func (s *Service) evaluate(ctx context.Context, roomID, eventID string, js []byte, ev *Event, room RoomContext) ([]Notification, error) {
	sender, _ := ev.String([]string{"sender"})
	thread := ev.ThreadID()
	levels := NotificationLevels(room.PowerLevels)
	var out []Notification
	for user, name := range room.Recipients {
		if user == sender {
			continue
		}
		evaluator, err := s.cfg.Rules.Evaluator(ctx, user)
		if err != nil {
			return nil, err
		}
		res := evaluator.Evaluate(ev, &Context{
			UserID: user, DisplayName: name, MemberCount: room.MemberCount,
			SenderPowerLevel: room.SenderPowerLevel, NotificationLevels: levels,
		})
		if !res.Matched || !res.Actions.Notify {
			continue
		}
		out = append(out, Notification{UserID: user, RoomID: roomID, EventID: eventID, Thread: thread, Event: js, Actions: res.Actions, Room: room})
	}
	return out, nil
}

// Deliver hands notes, recorded with their event, to the deliverer (if
// any).
func (s *Service) Deliver(ctx context.Context, notes []Notification) error {
	if s.cfg.Deliverer == nil || len(notes) == 0 {
		return nil
	}
	return s.cfg.Deliverer.Deliver(ctx, notes)
}
