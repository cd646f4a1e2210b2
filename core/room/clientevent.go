package room

import (
	"context"
	"encoding/json"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// ClientFormat says how events are written for one client.
type ClientFormat struct {
	// Now is the time unsigned.age is computed at, in milliseconds since
	// the epoch.
	Now int64
	// UserID and DeviceID are the client's: events the same device sent
	// carry unsigned.transaction_id.
	UserID, DeviceID string
	// OmitRoomID leaves room_id out (ClientEventWithoutRoomID, as /sync
	// uses).
	OmitRoomID bool
}

// Extras are the parts of unsigned the server derives from other events.
type Extras struct {
	// RedactedBecause is the redaction applied to the event, if any: the
	// event is then written redacted, with this event in
	// unsigned.redacted_because.
	RedactedBecause *Event
	// PrevContent is the content of the state event this one replaced.
	PrevContent json.RawMessage
	// Membership is the client's membership at the event
	// (unsigned.membership), "" to leave it out.
	Membership string
}

type clientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         string          `json:"room_id,omitempty"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Redacts        string          `json:"redacts,omitempty"`
	Unsigned       clientUnsigned  `json:"unsigned"`
}

type clientUnsigned struct {
	Age             int64           `json:"age"`
	TransactionID   string          `json:"transaction_id,omitempty"`
	ReplacesState   string          `json:"replaces_state,omitempty"`
	PrevContent     json.RawMessage `json:"prev_content,omitempty"`
	RedactedBecause json.RawMessage `json:"redacted_because,omitempty"`
	Membership      string          `json:"membership,omitempty"`
}

// ClientEvent writes ev in the client-server API's ClientEvent format:
// content (redacted by the room version's rules when x.RedactedBecause is
// set), event_id, origin_server_ts, room_id, sender, state_key for a state
// event, type, redacts for a redaction (also in room versions 11 and
// later, where it sits in content, for clients that read it at the top),
// and unsigned with age, transaction_id for the sending device,
// replaces_state, prev_content, redacted_because and membership.
func ClientEvent(ev *Event, x Extras, f ClientFormat) (json.RawMessage, error) {
	e := ev.PDU
	ce := clientEvent{
		Content:        e.Content,
		EventID:        ev.Stored.EventID,
		OriginServerTS: e.OriginServerTS,
		Sender:         e.Sender,
		StateKey:       e.StateKey,
		Type:           e.Type,
		Unsigned: clientUnsigned{
			Age:         f.Now - e.OriginServerTS,
			PrevContent: x.PrevContent,
			Membership:  x.Membership,
		},
	}
	if !f.OmitRoomID {
		ce.RoomID = ev.Stored.RoomID
	}
	if r, ok := e.RedactsEventID(ev.Version); ok {
		ce.Redacts = r
	}
	meta := ParseMetadata(ev.Stored.InternalMetadata)
	ce.Unsigned.ReplacesState = meta.ReplacesState
	if meta.TxnID != "" && f.DeviceID != "" && meta.DeviceID == f.DeviceID && e.Sender == f.UserID {
		ce.Unsigned.TransactionID = meta.TxnID
	}
	if x.RedactedBecause != nil {
		r, err := e.Redact(ev.Version)
		if err != nil {
			return nil, fmt.Errorf("room: redacting %s: %w", ev.Stored.EventID, err)
		}
		ce.Content = r.Content
		ce.Redacts = ""
		if rr, ok := r.RedactsEventID(ev.Version); ok {
			ce.Redacts = rr
		}
		because, err := ClientEvent(x.RedactedBecause, Extras{}, ClientFormat{Now: f.Now, UserID: f.UserID, DeviceID: f.DeviceID, OmitRoomID: f.OmitRoomID})
		if err != nil {
			return nil, err
		}
		ce.Unsigned.RedactedBecause = because
	}
	if len(ce.Content) == 0 {
		ce.Content = json.RawMessage("{}")
	}
	return json.Marshal(ce)
}

// ClientEvents writes evs for a client, in order, with the redactions that
// apply to them (unsigned.redacted_because) and the content of the state
// they replaced (unsigned.prev_content).
func (p *Pipeline) ClientEvents(ctx context.Context, evs []*Event, f ClientFormat) ([]json.RawMessage, error) {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.Stored.RedactedBy...)
		if e.PDU.StateKey != nil {
			if r := ParseMetadata(e.Stored.InternalMetadata).ReplacesState; r != "" {
				ids = append(ids, r)
			}
		}
	}
	var others map[string]*Event
	if len(ids) > 0 {
		var err error
		if others, err = p.Events(ctx, ids); err != nil {
			return nil, err
		}
	}
	out := make([]json.RawMessage, len(evs))
	for i, e := range evs {
		var x Extras
		for _, rid := range e.Stored.RedactedBy {
			r := others[rid]
			if r == nil {
				continue
			}
			ok, err := p.RedactionApplies(ctx, e, r)
			if err != nil {
				return nil, err
			}
			if ok {
				x.RedactedBecause = r
				break
			}
		}
		if e.PDU.StateKey != nil {
			if prev := others[ParseMetadata(e.Stored.InternalMetadata).ReplacesState]; prev != nil {
				x.PrevContent = prev.PDU.Content
			}
		}
		var err error
		if out[i], err = ClientEvent(e, x, f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RedactionApplies reports whether the stored, unrejected redaction
// event red takes effect on target ("Redactions" in the room versions): in
// room versions 1 and 2 every redaction that passed the auth rules does;
// from version 3, one whose sender shares the target sender's server, or
// whose sender had the redact power level in the state before it.
func (p *Pipeline) RedactionApplies(ctx context.Context, target, red *Event) (bool, error) {
	if red.Stored.Rejected != "" || red.Stored.RoomID != target.Stored.RoomID {
		return false, nil
	}
	if rid, ok := red.PDU.RedactsEventID(red.Version); !ok || rid != target.Stored.EventID {
		return false, nil
	}
	if red.Version.RedactionAuthRule {
		return true, nil
	}
	if domainOf(red.PDU.Sender) == domainOf(target.PDU.Sender) {
		return true, nil
	}
	if red.Stored.StateGroup == 0 {
		return false, nil
	}
	st, err := p.stores.Groups.StateAt(ctx, red.Stored.StateGroup, core.StateKeys(keyPowerLevels, keyCreate))
	if err != nil {
		return false, err
	}
	pl, create, err := p.pair(ctx, st[keyPowerLevels], st[keyCreate])
	if err != nil {
		return false, err
	}
	level := eventauth.UserPowerLevel(red.Version, red.PDU.Sender, pl, create)
	need := int64(50)
	if pl != nil {
		need = plLevel(pl.Content, "redact", 50)
	}
	return level >= need, nil
}
