package room

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// Outcomes of a received PDU that is not accepted. ReceivePDUs wraps one of
// them, with the reason, for each such PDU.
var (
	// ErrPDUInvalid: the PDU does not follow its room version's event
	// format, is over 65,536 bytes, or is for a room the server is not in.
	// It is dropped.
	ErrPDUInvalid = errors.New("invalid PDU")
	// ErrPDUSignature: a server that must have signed the PDU did not, or
	// a signature does not verify. It is dropped.
	ErrPDUSignature = errors.New("PDU signature check failed")
	// ErrPDURejected: the PDU fails the auth rules against its auth events
	// or against the state before it. It is stored as rejected.
	ErrPDURejected = errors.New("PDU rejected")
	// ErrPDUSoftFailed: the PDU passes the auth rules against the state
	// before it but not against the room's current state. It is stored,
	// soft-failed: never a forward extremity, never sent to clients.
	ErrPDUSoftFailed = errors.New("PDU soft-failed")
)

// FederationConfig configures the part of the pipeline that takes in
// events from other servers.
type FederationConfig struct {
	// Keys gives other servers' signing keys (required).
	Keys core.KeyRing
	// Client fetches what a received event refers to and the server does
	// not have (missing prev_events, the state at a gap, auth events).
	// Nil fetches nothing: such events fail with an error and are not
	// stored.
	Client core.FederationClient
	// Timestamps, when set, answers /timestamp_to_event.
	Timestamps TimestampStore
	// Logger receives what is dropped along the way; nil uses
	// slog.Default().
	Logger *slog.Logger
}

// TimestampStore finds events by time (storage.EventStore implements it).
type TimestampStore interface {
	// EventsNearTimestamp returns at most limit timeline events of roomID
	// nearest to ts in direction dir: for core.Forward those with
	// origin_server_ts >= ts, earliest first; for core.Backward those with
	// origin_server_ts <= ts, latest first. It returns an error wrapping
	// core.ErrNotFound for an unknown room.
	EventsNearTimestamp(ctx context.Context, roomID string, ts int64, dir core.Direction, limit int) ([]*core.StoredEvent, error)
}

// Federation takes in events other servers send (the PDU layer of seed
// 001): it checks each received PDU as the server-server API orders
// ("Checks performed on receipt of a PDU"), fetches what it refers to and
// the server lacks, and persists it through the pipeline that local events
// go through, so /sync, push and the pipeline's caches see it.
type Federation struct {
	p   *Pipeline
	cfg FederationConfig
	// hierarchies caches other servers' /hierarchy answers briefly.
	hierarchies hierarchyCache
}

var _ core.PDUReceiver = (*Federation)(nil)

// NewFederation returns the federation side of pipeline p.
func NewFederation(p *Pipeline, cfg FederationConfig) (*Federation, error) {
	if p == nil || cfg.Keys == nil {
		return nil, errors.New("room: federation needs the pipeline and a key ring")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Federation{p: p, cfg: cfg}, nil
}

// incoming is a received PDU that passed the checks that need no room
// state: its format, size, signatures and content hash.
type incoming struct {
	ev *pdu.PDU
	v  *roomversion.Version
	// roomID is the event's room (computed for a v12 create event).
	roomID string
	// backfilled marks history fetched with /backfill.
	backfilled bool
	// js is the event as stored: without unsigned, and redacted when its
	// content hash did not match.
	js []byte

	// What prefetch fetched for it from other servers before the room's
	// lock was taken: the state after each of its prev_events missing then
	// (or why it could not be fetched).
	gaps    map[string]core.StateMap
	gapErrs map[string]error
	// extra marks an event fetched with get_missing_events: received
	// before the PDUs of the transaction, not one of them.
	extra bool
}

// ReceivePDUs checks and persists the PDUs of a transaction from origin;
// see core.PDUReceiver. Each room's PDUs are taken in order of depth, under
// the room's lock; a PDU already stored is accepted again (nil). The result
// of a PDU that is not accepted wraps ErrPDUInvalid, ErrPDUSignature,
// ErrPDURejected or ErrPDUSoftFailed, or is an error that kept it from
// being stored at all (a key server or the origin could not be reached):
// sending it again may succeed.
func (f *Federation) ReceivePDUs(ctx context.Context, origin string, raws []json.RawMessage) map[string]error {
	results := make(map[string]error, len(raws))
	byRoom := map[string][]*incoming{}
	var rooms []string
	for i, raw := range raws {
		in, err := f.check(ctx, raw)
		if err != nil {
			key := fmt.Sprintf("#%d", i)
			if in != nil && in.ev.EventID != "" {
				key = in.ev.EventID
			}
			results[key] = err
			continue
		}
		if _, dup := results[in.ev.EventID]; dup {
			continue
		}
		results[in.ev.EventID] = nil
		if byRoom[in.ev.RoomID] == nil {
			rooms = append(rooms, in.ev.RoomID)
		}
		byRoom[in.ev.RoomID] = append(byRoom[in.ev.RoomID], in)
	}
	for _, roomID := range rooms {
		ins := byRoom[roomID]
		slices.SortStableFunc(ins, func(a, b *incoming) int { return cmp.Compare(a.ev.Depth, b.ev.Depth) })
		f.receiveRoom(ctx, origin, roomID, ins, results)
	}
	return results
}

func (f *Federation) receiveRoom(ctx context.Context, origin, roomID string, ins []*incoming, results map[string]error) {
	// A server the room's ACL denies has its events refused (client-server
	// API, "Server Access Control Lists").
	if err := f.aclAllows(ctx, origin, roomID); err != nil {
		for _, in := range ins {
			results[in.ev.EventID] = err
		}
		return
	}
	// Whatever the PDUs lack is fetched from origin before the room's lock
	// is taken, so that a slow or unresponsive server does not hold up the
	// room's other writers (local sends); under the lock, receive looks
	// again at what is stored.
	ins = f.prefetch(ctx, origin, ins, true)
	unlock := f.p.lockRoom(roomID)
	defer unlock()
	run := &pendingRun{}
	defer func() {
		if err := f.flush(ctx, run, roomID); err != nil {
			f.cfg.Logger.ErrorContext(ctx, "received PDUs not stored", "room_id", roomID, "err", err)
		}
		for id, err := range run.failed {
			results[id] = err
		}
		f.p.notify()
	}()
	for _, in := range ins {
		err := f.receive(ctx, origin, in, run)
		if in.extra {
			if err != nil {
				f.cfg.Logger.InfoContext(ctx, "missing event not accepted", "origin", origin, "event_id", in.ev.EventID, "err", err)
			}
			continue
		}
		results[in.ev.EventID] = err
		if err != nil && !errors.Is(err, ErrPDURejected) && !errors.Is(err, ErrPDUSoftFailed) {
			f.cfg.Logger.InfoContext(ctx, "received PDU not stored", "origin", origin, "event_id", in.ev.EventID, "err", err)
		}
	}
}

// check parses raw in its room's version and applies the checks that need
// no room state: the event format and size (drop), the signatures of the
// servers that must have signed it (drop), and the content hash (redact on
// mismatch). The returned incoming is non-nil with the event ID set
// whenever the event parsed, also on error.
func (f *Federation) check(ctx context.Context, raw json.RawMessage) (*incoming, error) {
	var head struct {
		RoomID *string `json:"room_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPDUInvalid, err)
	}
	if head.RoomID == nil {
		return nil, fmt.Errorf("%w: no room_id", ErrPDUInvalid)
	}
	v, err := f.p.Version(ctx, *head.RoomID)
	if err == nil {
		// A room known from an invite only has no events here to take
		// PDUs in with: the server is not in it.
		exts, terr := f.p.stores.Timeline.ForwardExtremities(ctx, *head.RoomID, 1)
		switch {
		case terr != nil && !errors.Is(terr, core.ErrNotFound):
			return nil, terr
		case terr != nil || len(exts) == 0:
			err = core.ErrNotFound
		}
	}
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%w: the server is not in room %q", ErrPDUInvalid, *head.RoomID)
	}
	if err != nil {
		return nil, err
	}
	return f.checkIn(ctx, v, raw)
}

// checkIn is check for an event of a room of version v.
func (f *Federation) checkIn(ctx context.Context, v *roomversion.Version, raw json.RawMessage) (*incoming, error) {
	// 1. Is a valid event, otherwise it is dropped.
	ev, err := pdu.Parse(v, raw)
	if err != nil {
		// The result is still keyed by the event's ID when one can be
		// worked out (an event too large, or with numbers only lenient
		// canonical JSON allows).
		if id := bestEffortEventID(v, raw); id != "" {
			return &incoming{ev: &pdu.PDU{EventID: id}, v: v}, fmt.Errorf("%w: %w", ErrPDUInvalid, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrPDUInvalid, err)
	}
	if v.EventFormat == roomversion.FormatV1 {
		if _, err := ev.ComputeEventID(v); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPDUInvalid, err)
		}
	}
	in := &incoming{ev: ev, v: v, roomID: ev.RoomID}
	if in.roomID == "" {
		// Only the create event of a room version whose room IDs come from
		// it has none.
		if in.roomID = roomIDOf(v, ev); in.roomID == "" {
			return in, fmt.Errorf("%w: no room_id", ErrPDUInvalid)
		}
	}
	if ev.Type == eventauth.TypeMember && !hasMembership(ev) {
		return in, fmt.Errorf("%w: m.room.member without a membership", ErrPDUInvalid)
	}
	// 2. Passes signature checks, otherwise it is dropped.
	if err := signing.VerifyEvent(v, ev, f.keyLookup(ctx)); err != nil {
		if errors.Is(err, signing.ErrMissingSignature) || errors.Is(err, signing.ErrBadSignature) ||
			errors.Is(err, signing.ErrInvalidKeyID) || errors.Is(err, pdu.ErrInvalidEvent) {
			return in, fmt.Errorf("%w: %w", ErrPDUSignature, err)
		}
		return in, err
	}
	// 3. Passes hash checks, otherwise it is redacted before being
	// processed further.
	if err := ev.CheckContentHash(v); err != nil {
		if !errors.Is(err, pdu.ErrContentHashMismatch) {
			return in, fmt.Errorf("%w: %w", ErrPDUInvalid, err)
		}
		f.cfg.Logger.InfoContext(ctx, "received PDU redacted: content hash mismatch", "event_id", ev.EventID, "err", err)
		red, err := ev.Redact(v)
		if err != nil {
			return in, fmt.Errorf("%w: %w", ErrPDUInvalid, err)
		}
		in.ev, ev = red, red
	}
	// What other servers put in unsigned is theirs: the server computes
	// its own.
	ev.Unsigned = nil
	if in.js, err = ev.MarshalFor(v); err != nil {
		return in, fmt.Errorf("%w: %w", ErrPDUInvalid, err)
	}
	return in, nil
}

// bestEffortEventID returns the ID of an event that does not parse in
// room version v, or "" when it has none: the event_id field in versions
// 1 and 2, the reference hash of its lenient canonical form after.
func bestEffortEventID(v *roomversion.Version, raw []byte) string {
	if v.EventFormat == roomversion.FormatV1 {
		var h struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(raw, &h) != nil {
			return ""
		}
		return h.EventID
	}
	lenient := *v
	lenient.StrictCanonicalJSON = false
	h, err := pdu.ReferenceHashJSON(&lenient, raw)
	if err != nil {
		return ""
	}
	if v.EventIDs == roomversion.EventIDBase64 {
		return "$" + base64.RawStdEncoding.EncodeToString(h[:])
	}
	return "$" + base64.RawURLEncoding.EncodeToString(h[:])
}

// hasMembership reports whether an m.room.member event's content has a
// string membership (storage needs one; the auth rules judge its value).
func hasMembership(ev *pdu.PDU) bool {
	var c struct {
		Membership *string `json:"membership"`
	}
	return json.Unmarshal(ev.Content, &c) == nil && c.Membership != nil
}

// keyLookup adapts the key ring to core/signing. The server's own key is
// known without asking.
func (f *Federation) keyLookup(ctx context.Context) signing.KeyLookup {
	return func(server, keyID string, atTS int64) (ed25519.PublicKey, error) {
		if server == f.p.cfg.ServerName && keyID == f.p.cfg.Key.ID {
			return f.p.cfg.Key.Public(), nil
		}
		k, err := f.cfg.Keys.VerifyKey(ctx, server, keyID, atTS)
		if errors.Is(err, core.ErrNotFound) {
			return nil, fmt.Errorf("%w: %v", signing.ErrKeyNotFound, err)
		}
		return k, err
	}
}

// roomIDOf returns the room of e: its room_id, or for the create event of
// a room version whose room IDs come from it, the ID computed from it (""
// if it cannot be).
func roomIDOf(v *roomversion.Version, e *pdu.PDU) string {
	if e.RoomID != "" || !v.RoomIDFromCreateEvent || e.Type != eventauth.TypeCreate {
		return e.RoomID
	}
	id, err := e.RoomIDFor(v)
	if err != nil {
		return ""
	}
	return id
}
