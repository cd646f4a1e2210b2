package slidingsync

// The extensions: to_device, e2ee, account_data, receipts and typing.

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// defaultToDevice is the to_device extension's limit when none is given.
const defaultToDevice = 100

func (b *build) extensions(ctx context.Context, configs map[string]*RoomConfig) error {
	e := b.ext
	if e.ToDevice.on() {
		if err := b.toDevice(ctx); err != nil {
			return err
		}
	}
	if e.E2EE.on() {
		if err := b.e2ee(ctx); err != nil {
			return err
		}
	}
	if e.AccountData.on() {
		if err := b.accountDataExt(ctx, b.scope(e.AccountData, configs)); err != nil {
			return err
		}
	}
	if e.Receipts.on() {
		if err := b.receipts(ctx, b.scope(e.Receipts, configs)); err != nil {
			return err
		}
	}
	if e.Typing.on() {
		b.typing(b.scope(e.Typing, configs))
	}
	return nil
}

// on reports whether a scoped extension is enabled.
func (s *ScopedExtension) on() bool { return s != nil && s.Toggle.on() }

// on reports whether the to_device extension is enabled.
func (t *ToDeviceExtension) on() bool { return t != nil && t.Toggle.on() }

// scope returns the rooms a scoped extension covers: those in the windows
// of the lists it names and the room subscriptions it names ("*": all;
// neither named: every list and subscription).
func (b *build) scope(s *ScopedExtension, configs map[string]*RoomConfig) []string {
	out := map[string]bool{}
	if s.Lists == nil && s.Rooms == nil {
		for id := range configs {
			out[id] = true
		}
		return slices.Sorted(maps.Keys(out))
	}
	for _, name := range s.Lists {
		for list, ids := range b.listRooms {
			if name == "*" || name == list {
				for _, id := range ids {
					out[id] = true
				}
			}
		}
	}
	for _, r := range s.Rooms {
		for id := range b.subs {
			if (r == "*" || r == id) && b.byRoom[id] != nil {
				out[id] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(out))
}

// sentBefore splits rooms into those the connection has sent before
// (incremental) and those new to it (their ephemeral data is sent whole).
func (b *build) sentBefore(rooms []string) (old, fresh []string) {
	for _, id := range rooms {
		if _, ok := b.prev.rooms[id]; ok && !b.initial {
			old = append(old, id)
		} else {
			fresh = append(fresh, id)
		}
	}
	return old, fresh
}

// toDevice delivers the device's to-device messages after the
// extension's since, deleting those up to since (the client has them).
func (b *build) toDevice(ctx context.Context) error {
	src := b.s.stores.ToDevice
	res := &ToDeviceResult{Events: []core.ToDeviceMessage{}}
	b.resp.Extensions.ToDevice = res
	since := int64(0)
	if s := b.ext.ToDevice.Since; s != "" {
		since, _ = parseCount(s) // checked by ParseRequest
	}
	res.NextBatch = strconv.FormatInt(since, 10)
	if src == nil || b.viewer.DeviceID == "" {
		return nil
	}
	if since > 0 {
		if err := src.DeleteToDeviceUpTo(ctx, b.viewer.UserID, b.viewer.DeviceID, since); err != nil {
			return err
		}
	}
	limit := defaultToDevice
	if l := b.ext.ToDevice.Limit; l != nil {
		limit = *l
	}
	if limit == 0 {
		return nil
	}
	msgs, next, err := src.ToDeviceSince(ctx, b.viewer.UserID, b.viewer.DeviceID, since, limit)
	if err != nil {
		return err
	}
	if msgs != nil {
		res.Events = msgs
	}
	res.NextBatch = strconv.FormatInt(max(next, since), 10)
	return nil
}

// e2ee fills the device list changes since the last position and the
// device's key counts.
func (b *build) e2ee(ctx context.Context) error {
	res := &E2EEResult{DeviceOneTimeKeysCount: map[string]int{"signed_curve25519": 0}, DeviceUnusedFallbackKeyTypes: []string{}}
	b.resp.Extensions.E2EE = res
	user, dev := b.viewer.UserID, b.viewer.DeviceID
	if ks := b.s.stores.DeviceKeys; ks != nil && dev != "" {
		counts, err := ks.OneTimeKeyCounts(ctx, user, dev)
		if err != nil {
			return err
		}
		maps.Copy(res.DeviceOneTimeKeysCount, counts)
		types, err := ks.UnusedFallbackKeyTypes(ctx, user, dev)
		if err != nil {
			return err
		}
		if types != nil {
			res.DeviceUnusedFallbackKeyTypes = types
		}
	}
	if dl := b.s.stores.DeviceLists; dl != nil && !b.initial {
		ch, err := dl.DeviceListChanges(ctx, user, b.since.DeviceLists, b.now.DeviceLists)
		if err != nil {
			return err
		}
		changed, left := map[string]bool{}, map[string]bool{}
		for _, u := range ch.Changed {
			changed[u] = true
		}
		for _, u := range ch.Left {
			left[u] = true
		}
		if err := b.memberDeviceLists(ctx, changed, left); err != nil {
			return err
		}
		res.DeviceLists = &core.DeviceLists{Changed: slices.Sorted(maps.Keys(changed)), Left: slices.Sorted(maps.Keys(left))}
	}
	return nil
}

// memberDeviceLists adds to the device list changes what the rooms'
// memberships say, as /sync does: users who newly share a room with the
// viewer (their devices are news), and users who left a room and now
// share none (left). It needs what moved since the last position (too
// much movement leaves only the stored changes).
func (b *build) memberDeviceLists(ctx context.Context, changed, left map[string]bool) error {
	rooms := map[string]bool{}
	for _, ev := range b.moved {
		if c := b.byRoom[ev.RoomID]; ev.Timeline && ev.Type == "m.room.member" && c != nil && c.m.Membership == core.MembershipJoin {
			rooms[ev.RoomID] = true
		}
	}
	if len(rooms) == 0 {
		return nil
	}
	evs, err := b.s.stores.Timeline.RoomEventsStream(ctx, slices.Sorted(maps.Keys(rooms)), b.since.Events, b.now.Events, core.Forward, maxMoved)
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for roomID, list := range evs {
		for _, ev := range list {
			if ev.Type != "m.room.member" || ev.StateKey == nil {
				continue
			}
			u, ms := *ev.StateKey, membershipOf(ev)
			if u == b.viewer.UserID {
				if ms == core.MembershipJoin {
					// The viewer joined: every member is new to them.
					if err := b.joinedMembers(ctx, roomID, changed); err != nil {
						return err
					}
				}
				continue
			}
			switch ms {
			case core.MembershipJoin:
				changed[u] = true
				delete(gone, u)
			case core.MembershipLeave, core.MembershipBan:
				gone[u] = true
			}
		}
	}
	delete(changed, b.viewer.UserID)
	for u := range gone {
		shares, err := b.sharesRoom(ctx, u)
		if err != nil {
			return err
		}
		if !shares {
			left[u] = true
			delete(changed, u)
		}
	}
	return nil
}

// joinedMembers adds roomID's joined members to set.
func (b *build) joinedMembers(ctx context.Context, roomID string, set map[string]bool) error {
	st, err := b.s.stores.State.CurrentState(ctx, roomID, core.StateTypes("m.room.member"))
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(st))
	for _, id := range st {
		ids = append(ids, id)
	}
	evs, err := b.s.sync.LoadOrdered(ctx, ids)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.StateKey != nil && membershipOf(ev) == core.MembershipJoin {
			set[*ev.StateKey] = true
		}
	}
	return nil
}

// sharesRoom reports whether userID is joined to a room the viewer is
// joined to.
func (b *build) sharesRoom(ctx context.Context, userID string) (bool, error) {
	ms, err := b.s.stores.State.RoomsForUser(ctx, userID, core.MembershipJoin)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if c := b.byRoom[m.RoomID]; c != nil && c.m.Membership == core.MembershipJoin {
			return true, nil
		}
	}
	return false, nil
}

// membershipOf returns content.membership of a member event.
func membershipOf(ev *core.StoredEvent) string {
	var c struct {
		Content struct {
			Membership string `json:"membership"`
		} `json:"content"`
	}
	_ = json.Unmarshal(ev.JSON, &c)
	return c.Content.Membership
}

// accountDataExt fills the global account data and that of the scoped
// rooms that changed since the last position (all of it the first time,
// and for rooms new to the connection).
func (b *build) accountDataExt(ctx context.Context, rooms []string) error {
	res := &AccountDataResult{Global: []clientsync.Event{}, Rooms: map[string][]clientsync.Event{}}
	b.resp.Extensions.AccountData = res
	src := b.s.stores.AccountData
	if src == nil {
		return nil
	}
	// incremental reads (since, now]; otherwise everything up to now (a
	// read from 0 returns it all).
	add := func(from int64, want []string, global, incremental bool) error {
		if len(want) == 0 && !global || incremental && from >= b.now.AccountData {
			return nil
		}
		g, byRoom, err := src.AccountDataChanges(ctx, b.viewer.UserID, from, b.now.AccountData)
		if err != nil {
			return err
		}
		if global {
			for _, ev := range g {
				res.Global = append(res.Global, clientsync.Event{Type: ev.Type, Content: ev.Content})
			}
		}
		for _, id := range want {
			for _, ev := range byRoom[id] {
				res.Rooms[id] = append(res.Rooms[id], clientsync.Event{Type: ev.Type, Content: ev.Content})
			}
		}
		return nil
	}
	if b.initial {
		return add(0, rooms, true, false)
	}
	old, fresh := b.sentBefore(rooms)
	if err := add(b.since.AccountData, old, true, true); err != nil {
		return err
	}
	return add(0, fresh, false, false)
}

// receipts fills the read receipts of the scoped rooms.
func (b *build) receipts(ctx context.Context, rooms []string) error {
	res := &RoomEvents{Rooms: map[string]clientsync.Event{}}
	b.resp.Extensions.Receipts = res
	src := b.s.stores.Receipts
	if src == nil || len(rooms) == 0 {
		return nil
	}
	old, fresh := b.sentBefore(rooms)
	read := func(ids []string, from int64, incremental bool) error {
		if len(ids) == 0 || incremental && from >= b.now.Receipts {
			return nil
		}
		contents, err := src.ReceiptContents(ctx, b.viewer.UserID, ids, from, b.now.Receipts)
		if err != nil {
			return err
		}
		for id, c := range contents {
			res.Rooms[id] = clientsync.Event{Type: "m.receipt", Content: c}
		}
		return nil
	}
	if err := read(old, b.since.Receipts, true); err != nil {
		return err
	}
	return read(fresh, 0, false)
}

// typing fills who is typing in the scoped rooms that changed (all of
// them for rooms new to the connection).
func (b *build) typing(rooms []string) {
	res := &RoomEvents{Rooms: map[string]clientsync.Event{}}
	b.resp.Extensions.Typing = res
	src := b.s.stores.Typing
	if src == nil || len(rooms) == 0 {
		return
	}
	old, fresh := b.sentBefore(rooms)
	add := func(m map[string][]string) {
		for id, users := range m {
			c, _ := json.Marshal(map[string][]string{"user_ids": users})
			res.Rooms[id] = clientsync.Event{Type: "m.typing", Content: c}
		}
	}
	if len(old) > 0 && b.since.Typing < b.now.Typing {
		add(src.Changes(inList(old), b.since.Typing, b.now.Typing))
	}
	if len(fresh) > 0 {
		add(src.Changes(inList(fresh), 0, b.now.Typing))
	}
}

// inList returns a test of membership in ids.
func inList(ids []string) func(string) bool {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return func(id string) bool { return set[id] }
}
