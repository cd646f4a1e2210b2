package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/canonicaljson"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// Proto is an event a local user asks to send, before the server fills in
// its place in the DAG, its auth events, hashes and signature.
type Proto struct {
	Type     string
	StateKey *string // nil for a message event
	Sender   string
	// Content is the event content, a JSON object (nil is {}).
	Content json.RawMessage
	// Redacts is the event an m.room.redaction removes. Room versions 11
	// and later carry it in Content as well; the caller puts it there.
	Redacts string
	// Timestamp, when positive, is the event's origin_server_ts instead of
	// now (an application service's timestamp massaging, the ts query
	// parameter). It does not change the event's place in the DAG.
	Timestamp int64

	// countersign, when set, is given the built event before it is
	// persisted and returns the event to persist instead (an invite of a
	// remote user comes back signed by the invitee's server too).
	countersign func(ctx context.Context, v *roomversion.Version, ev *pdu.PDU, js []byte) (*pdu.PDU, []byte, error)
	// dedupe, for a state event, makes Send return the current event of
	// its (type, state_key) instead of a new one when that event has the
	// same sender and content (as Synapse does for PUT /state and joins).
	dedupe bool
}

// maxFieldLen is the limit on type and state_key (server-server API, "Size
// limits"), in bytes.
const maxFieldLen = 255

// maxDepth is the largest depth an event may have: the canonical JSON
// integer limit (room versions 6 and later; older ones keep it as well).
const maxDepth = 1<<53 - 1

// stateKey returns the (type, state_key) of a state event proto.
func (pr *Proto) key() core.StateKey {
	return core.StateKey{Type: pr.Type, StateKey: *pr.StateKey}
}

// template returns the proto as an unsigned PDU with only the fields the
// auth events selection reads.
func (pr *Proto) template(roomID string) *pdu.PDU {
	return &pdu.PDU{RoomID: roomID, Sender: pr.Sender, Type: pr.Type, StateKey: pr.StateKey, Content: pr.Content}
}

// neededKeys returns the state keys building pr reads: its auth events,
// the create event, and its own key for a state event.
func neededKeys(v *roomversion.Version, roomID string, pr *Proto) []core.StateKey {
	sel := eventauth.AuthEventsNeeded(v, pr.template(roomID))
	keys := make([]core.StateKey, 0, len(sel)+2)
	keys = append(keys, core.StateKey{Type: eventauth.TypeCreate})
	for _, k := range sel {
		keys = append(keys, core.StateKey(k))
	}
	if pr.StateKey != nil {
		keys = append(keys, pr.key())
	}
	return keys
}

// checkProto refuses a proto that no event could carry, and canonicalises
// its content in the room version's mode.
func checkProto(v *roomversion.Version, pr *Proto) error {
	if pr.Type == "" {
		return core.ErrInvalidParam.WithMessage("event type is empty")
	}
	if len(pr.Type) > maxFieldLen {
		return core.ErrInvalidParam.WithMessage("event type is longer than %d bytes", maxFieldLen)
	}
	if pr.StateKey != nil && len(*pr.StateKey) > maxFieldLen {
		return core.ErrInvalidParam.WithMessage("state key is longer than %d bytes", maxFieldLen)
	}
	if len(pr.Content) == 0 {
		pr.Content = json.RawMessage("{}")
	}
	c, err := canonicaljson.Canonicalize(pr.Content, pdu.Mode(v))
	if err != nil {
		return core.ErrBadJSON.WithMessage("event content: %v", err)
	}
	if c[0] != '{' {
		return core.ErrBadJSON.WithMessage("event content is not an object")
	}
	pr.Content = c
	return nil
}

// build makes the event pr in room roomID ("" for the create event of a
// room version whose room IDs come from it) after prevs, whose state is
// state: it selects the auth events, sets the depth and timestamp, adds
// the content hash and the server's signature, computes the event ID,
// checks the size limit and the authorisation rules against state. It
// returns the event and its federation JSON. pr must have passed
// checkProto.
func (p *Pipeline) build(v *roomversion.Version, roomID string, pr Proto, prevs []*pdu.PDU, state eventauth.AuthEvents) (*pdu.PDU, []byte, error) {
	ev, err := p.place(v, roomID, pr, prevs, state)
	if err != nil {
		return nil, nil, err
	}
	v1 := v.EventFormat == roomversion.FormatV1
	if v1 {
		ev.EventID = "$" + rand.Text() + ":" + p.cfg.ServerName
	}
	// Signing sets the event ID too, from the bytes it signed.
	if err := signing.SignEventWithID(v, ev, p.cfg.ServerName, p.cfg.Key.ID, p.cfg.Key.Private); err != nil {
		return nil, nil, buildError(err)
	}
	js, err := ev.MarshalFor(v)
	if err != nil {
		return nil, nil, buildError(err)
	}
	if len(js) > pdu.MaxSize {
		return nil, nil, core.ErrTooLarge.WithMessage("the event would be %d bytes, over the limit of %d", len(js), pdu.MaxSize)
	}
	if err := eventauth.Authorize(v, ev, state, nil); err != nil {
		return nil, nil, buildError(err)
	}
	return ev, js, nil
}

// place makes the unsigned event pr in room roomID after prevs, whose
// state is state: the DAG fields (prev_events, depth, the auth events
// selected from state) and the timestamp, without hashes, signatures or
// event ID. It is the template a make_join answer gives, and the start of
// build.
func (p *Pipeline) place(v *roomversion.Version, roomID string, pr Proto, prevs []*pdu.PDU, state eventauth.AuthEvents) (*pdu.PDU, error) {
	ev := &pdu.PDU{
		RoomID:         roomID,
		Sender:         pr.Sender,
		Type:           pr.Type,
		StateKey:       pr.StateKey,
		Content:        pr.Content,
		OriginServerTS: p.now(),
		AuthEvents:     []string{},
		PrevEvents:     make([]string, 0, len(prevs)),
	}
	if pr.Timestamp > 0 {
		ev.OriginServerTS = pr.Timestamp
	}
	if pr.Redacts != "" && !v.RedactsInContent {
		r := pr.Redacts
		ev.Redacts = &r
	}
	v1 := v.EventFormat == roomversion.FormatV1
	refs := func(e *pdu.PDU) error {
		if !v1 {
			return nil
		}
		h, err := e.ReferenceHash(v)
		if err != nil {
			return fmt.Errorf("room: reference hash of %s: %w", e.EventID, err)
		}
		if ev.Internal.RefHashes == nil {
			ev.Internal.RefHashes = map[string]string{}
		}
		ev.Internal.RefHashes[e.EventID] = signing.EncodeBase64(h[:])
		return nil
	}
	var depth int64
	for _, prev := range prevs {
		ev.PrevEvents = append(ev.PrevEvents, prev.EventID)
		depth = max(depth, prev.Depth)
		if err := refs(prev); err != nil {
			return nil, err
		}
	}
	ev.Depth = min(depth+1, maxDepth)

	// Auth events selection (server-server API).
	for _, k := range eventauth.AuthEventsNeeded(v, ev) {
		ae, err := state(k)
		if err != nil {
			return nil, err
		}
		if ae == nil {
			continue
		}
		ev.AuthEvents = append(ev.AuthEvents, ae.EventID)
		if err := refs(ae); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// buildError turns the errors of building an event into Matrix errors: a
// rejection by the auth rules is M_FORBIDDEN naming the rule.
func buildError(err error) error {
	var ae *eventauth.AuthError
	switch {
	case errors.As(err, &ae):
		return core.ErrForbidden.WithMessage("%s", ae.Error())
	case errors.Is(err, pdu.ErrTooLarge):
		return core.ErrTooLarge.WithMessage("the event is larger than %d bytes", pdu.MaxSize)
	case errors.Is(err, canonicaljson.ErrInvalid), errors.Is(err, pdu.ErrInvalidEvent):
		return core.ErrBadJSON.WithMessage("%v", err)
	}
	return err
}

// newEvent describes a built event to storage.
func newEvent(v *roomversion.Version, ev *pdu.PDU, js []byte, meta Metadata, received int64) core.NewEvent {
	ne := core.NewEvent{
		EventID:          ev.EventID,
		RoomID:           ev.RoomID,
		Type:             ev.Type,
		StateKey:         ev.StateKey,
		Sender:           ev.Sender,
		Depth:            ev.Depth,
		OriginServerTS:   ev.OriginServerTS,
		PrevEvents:       ev.PrevEvents,
		AuthEvents:       ev.AuthEvents,
		JSON:             js,
		FormatVersion:    int(v.EventFormat),
		InternalMetadata: meta.marshal(),
		ReceivedTS:       received,
	}
	if r, ok := ev.RedactsEventID(v); ok {
		ne.Redacts = r
	}
	membership, containsURL := contentFlags(ev.Content)
	if ev.Type == eventauth.TypeMember {
		ne.Membership = membership
	}
	ne.ContainsURL = containsURL
	return ne
}

// contentFlags reads what storage keeps of an event's content beside its
// JSON: content.membership when it is a string, and whether content.url
// is a string (contains_url, for the filters). It walks the content's
// top-level members once, without decoding the rest; content that is not
// a JSON object has neither.
func contentFlags(content []byte) (membership string, containsURL bool) {
	err := canonicaljson.Members(content, func(k, v []byte) error {
		switch string(k) {
		case "membership":
			membership = ""
			if v[0] == '"' {
				s, err := canonicaljson.Unquote(v)
				if err != nil {
					return err
				}
				membership = s
			}
		case "url":
			containsURL = v[0] == '"'
		}
		return nil
	})
	if err != nil {
		return "", false
	}
	return membership, containsURL
}
