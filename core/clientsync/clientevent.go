package clientsync

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
)

// ClientEvent is a room event as a client reads it: the room pipeline's
// client format (definitions/client_event.yaml), with the bundled
// aggregations added to unsigned, or the federation format when the
// filter asks for it.
type ClientEvent struct {
	EventID string
	// Redacted is set when a redaction applies to the event.
	Redacted bool
	// Relations holds the bundled aggregations, by relation type
	// (unsigned.m.relations).
	Relations map[string]any

	raw json.RawMessage
	// emptyContent replaces the content with {} (a thread root sent by an
	// ignored user is returned as if redacted).
	emptyContent bool
	// fields, when set, lists the only fields to send (event_fields).
	fields []string
}

// MarshalJSON writes the event.
func (e *ClientEvent) MarshalJSON() ([]byte, error) {
	b := e.raw
	if len(e.Relations) > 0 || e.emptyContent {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, err
		}
		if e.emptyContent {
			obj["content"] = json.RawMessage("{}")
		}
		if len(e.Relations) > 0 {
			var unsigned map[string]any
			if u := obj["unsigned"]; len(u) > 0 {
				if err := json.Unmarshal(u, &unsigned); err != nil {
					return nil, err
				}
			}
			if unsigned == nil {
				unsigned = map[string]any{}
			}
			unsigned["m.relations"] = e.Relations
			u, err := json.Marshal(unsigned)
			if err != nil {
				return nil, err
			}
			obj["unsigned"] = u
		}
		var err error
		if b, err = json.Marshal(obj); err != nil {
			return nil, err
		}
	}
	if e.fields != nil {
		return selectFields(b, e.fields)
	}
	return b, nil
}

// selectFields keeps only the dot-separated paths of fields in the JSON
// object b (appendices, "dot-separated property paths": "\." is a literal
// dot, "\\" a literal backslash).
func selectFields(b []byte, fields []string) ([]byte, error) {
	var full map[string]any
	if err := json.Unmarshal(b, &full); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range fields {
		copyPath(out, full, splitPath(f))
	}
	return json.Marshal(out)
}

func splitPath(p string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			cur.WriteByte(p[i])
		case p[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	return append(parts, cur.String())
}

func copyPath(dst, src map[string]any, path []string) {
	v, ok := src[path[0]]
	if !ok {
		return
	}
	if len(path) == 1 {
		dst[path[0]] = v
		return
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return
	}
	d, ok := dst[path[0]].(map[string]any)
	if !ok {
		d = map[string]any{}
		dst[path[0]] = d
	}
	copyPath(d, sub, path[1:])
}

// Viewer is who events are read for.
type Viewer struct {
	UserID   string
	DeviceID string
}

// formatter turns stored events into client events.
type formatter struct {
	rooms *room.Pipeline
	cf    room.ClientFormat
	// format and fields come from the filter (event_format,
	// event_fields).
	format string
	fields []string
}

// formatter returns a formatter of client events for viewer; /sync leaves
// room_id out.
func (s *Service) formatter(viewer Viewer, omitRoomID bool) *formatter {
	return &formatter{rooms: s.stores.Rooms, cf: room.ClientFormat{
		Now: s.nowMS(), UserID: viewer.UserID, DeviceID: viewer.DeviceID, OmitRoomID: omitRoomID,
	}}
}

// formatAll returns evs as client events, in the same order.
func (f *formatter) formatAll(ctx context.Context, evs []*core.StoredEvent) ([]*ClientEvent, error) {
	out := make([]*ClientEvent, len(evs))
	if f.format == FormatFederation {
		for i, ev := range evs {
			out[i] = &ClientEvent{EventID: ev.EventID, raw: ev.JSON, fields: f.fields}
		}
		return out, nil
	}
	wrapped, err := f.rooms.Wrap(evs)
	if err != nil {
		return nil, err
	}
	raws, err := f.rooms.ClientEvents(ctx, wrapped, f.cf)
	if err != nil {
		return nil, err
	}
	for i, ev := range evs {
		ce := &ClientEvent{EventID: ev.EventID, raw: raws[i], fields: f.fields}
		if len(ev.RedactedBy) > 0 {
			ce.Redacted = redactedJSON(raws[i])
		}
		out[i] = ce
	}
	return out, nil
}

// redactedJSON reports whether a formatted client event carries
// unsigned.redacted_because.
func redactedJSON(raw []byte) bool {
	if !bytes.Contains(raw, []byte(`"redacted_because"`)) {
		return false
	}
	var u struct {
		Unsigned struct {
			RedactedBecause json.RawMessage `json:"redacted_because"`
		} `json:"unsigned"`
	}
	return json.Unmarshal(raw, &u) == nil && len(u.Unsigned.RedactedBecause) > 0
}

// visible returns the events of evs userID may see by the history
// visibility rules, in order.
func (s *Service) visible(ctx context.Context, userID string, evs []*core.StoredEvent) ([]*core.StoredEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	wrapped, err := s.stores.Rooms.Wrap(evs)
	if err != nil {
		return nil, err
	}
	vis, err := s.stores.Rooms.FilterVisible(ctx, userID, wrapped)
	if err != nil {
		return nil, err
	}
	out := make([]*core.StoredEvent, len(vis))
	for i, e := range vis {
		out[i] = e.Stored
	}
	return out, nil
}

// prevEventIDs returns the prev_events of a stored event's JSON, in either
// event format.
func prevEventIDs(js []byte) []string {
	var fe struct {
		PrevEvents []json.RawMessage `json:"prev_events"`
	}
	if json.Unmarshal(js, &fe) != nil {
		return nil
	}
	out := make([]string, 0, len(fe.PrevEvents))
	for _, raw := range fe.PrevEvents {
		var id string
		if json.Unmarshal(raw, &id) == nil {
			out = append(out, id)
			continue
		}
		var pair []json.RawMessage // v1/v2: [event_id, hashes]
		if json.Unmarshal(raw, &pair) == nil && len(pair) > 0 && json.Unmarshal(pair[0], &id) == nil {
			out = append(out, id)
		}
	}
	return out
}

// federationEvent is what the sync assembly reads of an event's JSON.
type federationEvent struct {
	Content json.RawMessage `json:"content"`
}
