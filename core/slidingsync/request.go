// Package slidingsync assembles the responses of simplified sliding sync
// (MSC4186, POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync):
// room lists ordered by bump stamp and cut into windows, room
// subscriptions, per-room data (name, heroes, required state, timeline,
// counts, invite state) and the to_device, e2ee, account_data, receipts
// and typing extensions. It reads the same stores as /sync
// (core/clientsync), so there is no second copy of any timeline, and it
// keeps per connection, in memory, what it has sent: a position names the
// connection's state after one response, and an incremental request reads
// only what moved since that position.
//
// The package does no I/O of its own. Importing it has no side effects.
package slidingsync

import (
	"encoding/json"
	"errors"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
)

// Limits of a request.
const (
	// MaxTimelineLimit caps timeline_limit.
	MaxTimelineLimit = 100
	// maxLists is the most lists one request may name.
	maxLists = 100
	// maxRangeEnd caps the end of a range.
	maxRangeEnd = 1 << 20
	// maxToDevice caps the to_device extension's limit.
	maxToDevice = 1000
)

// Request is the body of a sliding sync request, with the pos and
// timeout query parameters beside it.
type Request struct {
	ConnID            string                 `json:"conn_id,omitempty"`
	Lists             map[string]*List       `json:"lists,omitempty"`
	RoomSubscriptions map[string]*RoomConfig `json:"room_subscriptions,omitempty"`
	// UnsubscribeRooms ends room subscriptions of the connection.
	UnsubscribeRooms []string    `json:"unsubscribe_rooms,omitempty"`
	Extensions       *Extensions `json:"extensions,omitempty"`
}

// RoomConfig is what a client wants of each room: its required state and
// timeline length.
type RoomConfig struct {
	RequiredState [][]string `json:"required_state,omitempty"`
	TimelineLimit *int       `json:"timeline_limit,omitempty"`
}

// List is one room list: a window (ranges) of the rooms that pass its
// filters, ordered by bump stamp, newest first.
type List struct {
	RoomConfig
	Ranges  [][]int  `json:"ranges,omitempty"`
	Filters *Filters `json:"filters,omitempty"`
}

// Filters select the rooms of a list. A nil field does not filter.
type Filters struct {
	IsDM         *bool     `json:"is_dm,omitempty"`
	Spaces       []string  `json:"spaces,omitempty"`
	IsEncrypted  *bool     `json:"is_encrypted,omitempty"`
	IsInvite     *bool     `json:"is_invite,omitempty"`
	RoomTypes    []*string `json:"room_types,omitempty"`
	NotRoomTypes []*string `json:"not_room_types,omitempty"`
}

// Extensions are the optional streams a client asks for.
type Extensions struct {
	ToDevice    *ToDeviceExtension `json:"to_device,omitempty"`
	E2EE        *Toggle            `json:"e2ee,omitempty"`
	AccountData *ScopedExtension   `json:"account_data,omitempty"`
	Receipts    *ScopedExtension   `json:"receipts,omitempty"`
	Typing      *ScopedExtension   `json:"typing,omitempty"`
}

// Toggle is an extension that is only switched on or off.
type Toggle struct {
	Enabled *bool `json:"enabled,omitempty"`
}

func (t *Toggle) on() bool { return t != nil && t.Enabled != nil && *t.Enabled }

// ToDeviceExtension asks for the device's to-device messages after since.
type ToDeviceExtension struct {
	Toggle
	Since string `json:"since,omitempty"`
	Limit *int   `json:"limit,omitempty"`
}

// ScopedExtension is an extension about rooms: those of the named lists
// and room subscriptions ("*" for all; both nil: all of them).
type ScopedExtension struct {
	Toggle
	Lists []string `json:"lists,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// errParam builds an M_INVALID_PARAM error.
func errParam(format string, args ...any) error {
	return core.ErrInvalidParam.WithMessage(format, args...)
}

// ParseRequest reads a request body and checks it: a body that is not a
// JSON object is M_BAD_JSON, values out of their range M_INVALID_PARAM.
func ParseRequest(body []byte) (*Request, error) {
	var req Request
	if len(body) == 0 {
		return &req, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, core.ErrBadJSON.WithMessage("sliding sync request: %s has the wrong type", te.Field)
		}
		return nil, core.ErrBadJSON.WithMessage("sliding sync request: the body must be a JSON object of the request's fields")
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return &req, nil
}

func (req *Request) validate() error {
	if len(req.ConnID) > 255 {
		return errParam("conn_id is too long")
	}
	if len(req.Lists) > maxLists {
		return errParam("at most %d lists", maxLists)
	}
	for name, l := range req.Lists {
		if l == nil {
			return errParam("list %q must be an object", name)
		}
		if len(name) > 64 {
			return errParam("list name %q is too long", name)
		}
		for _, r := range l.Ranges {
			if len(r) != 2 || r[0] < 0 || r[1] < r[0] || r[1] > maxRangeEnd {
				return errParam("list %q: a range is two indexes [start, end] with 0 <= start <= end", name)
			}
		}
		if err := l.RoomConfig.validate(); err != nil {
			return errParam("list %q: %v", name, err)
		}
		if f := l.Filters; f != nil {
			for _, s := range f.Spaces {
				if _, err := id.ParseRoomID(s); err != nil {
					return errParam("list %q: filters.spaces: %q is not a room ID", name, s)
				}
			}
		}
	}
	for roomID, c := range req.RoomSubscriptions {
		if _, err := id.ParseRoomID(roomID); err != nil {
			return errParam("room_subscriptions: %q is not a room ID", roomID)
		}
		if c == nil {
			return errParam("room_subscriptions: %q must be an object", roomID)
		}
		if err := c.validate(); err != nil {
			return errParam("room_subscriptions %q: %v", roomID, err)
		}
	}
	if e := req.Extensions; e != nil && e.ToDevice != nil {
		if l := e.ToDevice.Limit; l != nil && (*l < 0 || *l > maxToDevice) {
			return errParam("extensions.to_device.limit must be between 0 and %d", maxToDevice)
		}
		if s := e.ToDevice.Since; s != "" {
			if _, err := parseCount(s); err != nil {
				return errParam("extensions.to_device.since: %q is not a to-device position", s)
			}
		}
	}
	return nil
}

type configError string

func (e configError) Error() string { return string(e) }

func (c *RoomConfig) validate() error {
	if l := c.TimelineLimit; l != nil && (*l < 0 || *l > MaxTimelineLimit) {
		return configError("timeline_limit must be between 0 and 100")
	}
	for _, p := range c.RequiredState {
		if len(p) != 2 || p[0] == "" {
			return configError("required_state entries are [event type, state key] pairs")
		}
	}
	return nil
}

// timelineLimit is the configured limit (0 when unset).
func (c *RoomConfig) timelineLimit() int {
	if c == nil || c.TimelineLimit == nil {
		return 0
	}
	return *c.TimelineLimit
}
