package slidingsync

// The room lists: the account's rooms, their bump stamps, the lists'
// filters and windows.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// bumpTypes are the event types that move a room up its lists (those
// Synapse uses): what a person would call activity, not state noise.
var bumpTypes = map[string]bool{
	"m.room.create":    true,
	"m.room.message":   true,
	"m.room.encrypted": true,
	"m.sticker":        true,
	"m.call.invite":    true,
	"m.poll.start":     true,
	"m.beacon_info":    true,
}

// bumpLookback is how many events per room a second read looks through
// for a bump event when the newest is not one.
const bumpLookback = 50

// StreamEvents lists what moved in every room since a position (the
// event store provides it). With it, an incremental request reads only
// the events after its position instead of asking each room, and reads
// the account's memberships again only when a membership moved.
type StreamEvents interface {
	// StreamEvents returns the timeline events of all rooms with from <
	// stream ordering <= to and the out-of-band memberships among the
	// others, newest first, at most limit.
	StreamEvents(ctx context.Context, from, to int64, limit int) ([]core.StreamEvent, error)
}

// BumpStampReader finds rooms' bump stamps without reading their events
// (the event store provides it).
type BumpStampReader interface {
	// BumpStamps returns, for each of roomIDs with a timeline event of one
	// of types at from < stream ordering <= to, the stream ordering of the
	// newest; the other rooms are absent.
	BumpStamps(ctx context.Context, roomIDs, types []string, from, to int64) (map[string]int64, error)
}

// bumpTypeList is bumpTypes as a sorted list.
var bumpTypeList = slices.Sorted(maps.Keys(bumpTypes))

// maxMoved is how many events since the last position an incremental
// request reads through StreamEvents before asking each room instead.
const maxMoved = 500

// candidate is a room of the account that lists may show.
type candidate struct {
	m    core.RoomMembership
	bump int64
}

// bumpStamps sets, in stamps, the bump stamp of each of roomIDs whose
// newest bump event is in (from, to]: its stream ordering. Rooms with no
// such event in the range keep what stamps has. It returns the rooms with
// any event in the range.
func (b *build) bumpStamps(ctx context.Context, roomIDs []string, from, to int64, stamps map[string]int64) (map[string]bool, error) {
	active := map[string]bool{}
	if len(roomIDs) == 0 || from >= to {
		return active, nil
	}
	if b.moved != nil && from == b.since.Events {
		want := make(map[string]bool, len(roomIDs))
		for _, id := range roomIDs {
			want[id] = true
		}
		bumped := map[string]bool{}
		for _, ev := range b.moved { // newest first
			if !ev.Timeline || !want[ev.RoomID] {
				continue
			}
			active[ev.RoomID] = true
			if bumpTypes[ev.Type] && !bumped[ev.RoomID] {
				bumped[ev.RoomID] = true
				stamps[ev.RoomID] = ev.StreamOrdering
			}
		}
		return active, nil
	}
	if br, ok := b.s.stores.Timeline.(BumpStampReader); ok && from == clientsync.MinStream {
		got, err := br.BumpStamps(ctx, roomIDs, bumpTypeList, from, to)
		if err != nil {
			return nil, err
		}
		for id, v := range got {
			stamps[id] = v
		}
		// The rooms are read whole (new to the connection): each counts
		// as moved.
		for _, id := range roomIDs {
			active[id] = true
		}
		return active, nil
	}
	tl := b.s.stores.Timeline
	newest, err := tl.RoomEventsStream(ctx, roomIDs, from, to, core.Backward, 1)
	if err != nil {
		return nil, err
	}
	var again []string
	for id, evs := range newest {
		active[id] = true
		if bumpTypes[evs[0].Type] {
			stamps[id] = evs[0].StreamOrdering
		} else {
			again = append(again, id)
		}
	}
	if len(again) == 0 {
		return active, nil
	}
	more, err := tl.RoomEventsStream(ctx, again, from, to, core.Backward, bumpLookback)
	if err != nil {
		return nil, err
	}
	for id, evs := range more {
		for _, ev := range evs {
			if bumpTypes[ev.Type] {
				stamps[id] = ev.StreamOrdering
				break
			}
		}
	}
	return active, nil
}

// roomFacts are what filters ask of a room, read once per request.
type roomFacts struct {
	encrypted *bool
	roomType  *string // nil: not read yet; "" is no type
}

// isDM reports whether roomID is a direct chat for the viewer: named in
// m.direct, or an invite marked is_direct.
func (b *build) isDM(ctx context.Context, c *candidate) (bool, error) {
	if b.direct == nil {
		b.direct = map[string]bool{}
		if ad := b.accountData; ad != nil {
			raw, err := ad.AccountData(ctx, b.viewer.UserID, "", "m.direct")
			if err != nil && !isNotFound(err) {
				return false, err
			}
			var m map[string][]string
			if len(raw) > 0 && json.Unmarshal(raw, &m) == nil {
				for _, rooms := range m {
					for _, r := range rooms {
						b.direct[r] = true
					}
				}
			}
		}
	}
	if b.direct[c.m.RoomID] {
		return true, nil
	}
	if c.m.Membership == core.MembershipInvite {
		ev, err := b.s.stores.Events.Event(ctx, c.m.EventID)
		if err != nil {
			if isNotFound(err) {
				return false, nil
			}
			return false, err
		}
		var e struct {
			Content struct {
				IsDirect bool `json:"is_direct"`
			} `json:"content"`
		}
		_ = json.Unmarshal(ev.JSON, &e)
		return e.Content.IsDirect, nil
	}
	return false, nil
}

// facts returns the facts of roomID, reading what is not read yet.
func (b *build) facts(ctx context.Context, roomID string, wantType, wantEncrypted bool) (*roomFacts, error) {
	f := b.roomFacts[roomID]
	if f == nil {
		f = &roomFacts{}
		b.roomFacts[roomID] = f
	}
	var keys []core.StateKey
	if wantType && f.roomType == nil {
		keys = append(keys, core.StateKey{Type: "m.room.create"})
	}
	if wantEncrypted && f.encrypted == nil {
		keys = append(keys, core.StateKey{Type: "m.room.encryption"})
	}
	if len(keys) == 0 {
		return f, nil
	}
	st, err := b.s.stores.State.CurrentState(ctx, roomID, core.StateKeys(keys...))
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if wantEncrypted && f.encrypted == nil {
		enc := st[core.StateKey{Type: "m.room.encryption"}] != ""
		f.encrypted = &enc
	}
	if wantType && f.roomType == nil {
		t := ""
		if id := st[core.StateKey{Type: "m.room.create"}]; id != "" {
			ev, err := b.s.stores.Events.Event(ctx, id)
			if err != nil && !isNotFound(err) {
				return nil, err
			}
			if ev != nil {
				var e struct {
					Content struct {
						Type string `json:"type"`
					} `json:"content"`
				}
				_ = json.Unmarshal(ev.JSON, &e)
				t = e.Content.Type
			}
		}
		f.roomType = &t
	}
	return f, nil
}

// spaceChildren returns the rooms the given spaces name as children
// (m.space.child state with a non-empty via), for spaces the viewer is in.
func (b *build) spaceChildren(ctx context.Context, spaces []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, sp := range spaces {
		if c := b.byRoom[sp]; c == nil || c.m.Membership != core.MembershipJoin {
			continue
		}
		st, err := b.s.stores.State.CurrentState(ctx, sp, core.StateTypes("m.space.child"))
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		ids := make([]string, 0, len(st))
		for _, id := range st {
			ids = append(ids, id)
		}
		evs, err := b.s.stores.Events.Events(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			var e struct {
				Content struct {
					Via []string `json:"via"`
				} `json:"content"`
			}
			if ev.StateKey != nil && json.Unmarshal(ev.JSON, &e) == nil && len(e.Content.Via) > 0 {
				out[*ev.StateKey] = true
			}
		}
	}
	return out, nil
}

// match reports whether a room passes a list's filters.
func (b *build) match(ctx context.Context, c *candidate, f *Filters, children map[string]bool) (bool, error) {
	if f == nil {
		return true, nil
	}
	if f.IsInvite != nil && *f.IsInvite != (c.m.Membership == core.MembershipInvite) {
		return false, nil
	}
	if f.Spaces != nil && !children[c.m.RoomID] {
		return false, nil
	}
	if f.IsDM != nil {
		dm, err := b.isDM(ctx, c)
		if err != nil {
			return false, err
		}
		if dm != *f.IsDM {
			return false, nil
		}
	}
	wantType := f.RoomTypes != nil || f.NotRoomTypes != nil
	if !wantType && f.IsEncrypted == nil {
		return true, nil
	}
	if c.m.Membership != core.MembershipJoin && c.m.Membership != core.MembershipLeave && c.m.Membership != core.MembershipBan {
		// The server may not hold the state of a room the viewer is only
		// invited to: read it from the stripped state.
		return b.matchStripped(ctx, c, f)
	}
	facts, err := b.facts(ctx, c.m.RoomID, wantType, f.IsEncrypted != nil)
	if err != nil {
		return false, err
	}
	if f.IsEncrypted != nil && *facts.encrypted != *f.IsEncrypted {
		return false, nil
	}
	return matchType(facts.roomType, f), nil
}

// matchStripped applies is_encrypted and the room types to an invite or
// knock through its stripped state.
func (b *build) matchStripped(ctx context.Context, c *candidate, f *Filters) (bool, error) {
	st, _, err := b.s.sync.InviteState(ctx, c.m, unsignedStateKey(c.m.Membership))
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, err
	}
	enc := false
	var typ *string
	for _, se := range st {
		switch se.Type {
		case "m.room.encryption":
			enc = true
		case "m.room.create":
			var cc struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(se.Content, &cc)
			typ = &cc.Type
		}
	}
	if f.IsEncrypted != nil && enc != *f.IsEncrypted {
		return false, nil
	}
	if typ == nil {
		// Without the create event the type is unknown: only a filter
		// without room types keeps the room.
		return f.RoomTypes == nil && f.NotRoomTypes == nil, nil
	}
	return matchType(typ, f), nil
}

func unsignedStateKey(membership string) string {
	if membership == core.MembershipKnock {
		return "knock_room_state"
	}
	return "invite_room_state"
}

// matchType applies room_types and not_room_types (a null entry stands
// for rooms without a type).
func matchType(t *string, f *Filters) bool {
	if t == nil {
		return true
	}
	in := func(list []*string) bool {
		for _, x := range list {
			if x == nil && *t == "" || x != nil && *x == *t {
				return true
			}
		}
		return false
	}
	if f.NotRoomTypes != nil && in(f.NotRoomTypes) {
		return false
	}
	return f.RoomTypes == nil || in(f.RoomTypes)
}

// sortRooms orders rooms by bump stamp, newest first (room ID breaks ties).
func sortRooms(rooms []*candidate) {
	slices.SortFunc(rooms, func(a, b *candidate) int {
		if a.bump != b.bump {
			if a.bump > b.bump {
				return -1
			}
			return 1
		}
		return strings.Compare(a.m.RoomID, b.m.RoomID)
	})
}

// window returns the rooms of sorted within ranges, each once, in order,
// and one SYNC op per range.
func window(sorted []*candidate, ranges [][]int) ([]*candidate, []Op) {
	seen := map[string]bool{}
	var out []*candidate
	var ops []Op
	for _, r := range ranges {
		op := Op{Op: "SYNC", Range: []int{r[0], r[1]}, RoomIDs: []string{}}
		for i := r[0]; i <= r[1] && i < len(sorted); i++ {
			c := sorted[i]
			op.RoomIDs = append(op.RoomIDs, c.m.RoomID)
			if !seen[c.m.RoomID] {
				seen[c.m.RoomID] = true
				out = append(out, c)
			}
		}
		ops = append(ops, op)
	}
	return out, ops
}

func isNotFound(err error) bool { return errors.Is(err, core.ErrNotFound) }
