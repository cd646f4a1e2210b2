package clientsync

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
)

// joinedSection returns the rooms.join section of roomID to add ephemeral
// events or account data to, moving a quiet room into the response; nil
// when the room is not a joined room of this sync.
func (r *syncRun) joinedSection(ctx context.Context, roomID string) (*JoinedRoom, error) {
	if jr := r.resp.Rooms.Join[roomID]; jr != nil {
		return jr, nil
	}
	jr, ok := r.quiet[roomID]
	if !ok && r.isJoined(roomID) {
		jr, ok = r.quietRoom(), true
	}
	if ok {
		r.resp.Rooms.Join[roomID] = jr
		delete(r.quiet, roomID)
		if r.req.UseStateAfter {
			jr.State, jr.StateAfter = nil, &RoomEvents{Events: []*ClientEvent{}}
		}
		r.unread(roomID, jr)
		return jr, nil
	}
	return nil, nil
}

// ephemeral adds typing notifications and receipts to the joined rooms.
// The sources list what changed in any room, and the joined rooms are
// picked from that: no list of the user's rooms is made or sent.
func (r *syncRun) ephemeral(ctx context.Context) error {
	ef := &r.filter.Room.Ephemeral
	in := func(roomID string) bool { return r.isJoined(roomID) && ef.MatchRoom(roomID) }
	add := func(evs map[string]Event) error {
		for _, id := range slices.Sorted(maps.Keys(evs)) {
			ev := evs[id]
			if !ef.MatchSenderTypeKey(ev.Type) {
				continue
			}
			jr, err := r.joinedSection(ctx, id)
			if err != nil {
				return err
			}
			if jr != nil {
				jr.Ephemeral.Events = append(jr.Ephemeral.Events, ev)
			}
		}
		return nil
	}
	if src := r.s.stores.Typing; src != nil && (r.initial() || r.since.Typing < r.now.Typing) {
		evs := map[string]Event{}
		for id, users := range src.Changes(in, r.since.Typing, r.now.Typing) {
			c, err := json.Marshal(map[string][]string{"user_ids": users})
			if err != nil {
				return err
			}
			evs[id] = Event{Type: "m.typing", Content: c}
		}
		if err := add(evs); err != nil {
			return err
		}
	}
	if src := r.s.stores.Receipts; src != nil && (r.initial() || r.since.Receipts < r.now.Receipts) {
		contents, err := src.ReceiptChanges(ctx, r.req.Viewer.UserID, in, r.since.Receipts, r.now.Receipts)
		if err != nil {
			return err
		}
		evs := make(map[string]Event, len(contents))
		for id, c := range contents {
			evs[id] = Event{Type: "m.receipt", Content: c}
		}
		if err := add(evs); err != nil {
			return err
		}
	}
	return nil
}

// accountData fills the global account data and that of the rooms in the
// response.
func (r *syncRun) accountData(ctx context.Context) error {
	r.resp.AccountData.Events = []Event{}
	src := r.s.stores.AccountData
	if src == nil || !r.initial() && r.since.AccountData >= r.now.AccountData {
		// (An incremental sync must not ask from 0: that reads as initial.)
		return nil
	}
	global, rooms, err := src.AccountDataChanges(ctx, r.req.Viewer.UserID, r.since.AccountData, r.now.AccountData)
	if err != nil {
		return err
	}
	for _, ev := range global {
		if r.filter.AccountData.MatchSenderType(r.req.Viewer.UserID, ev.Type) {
			r.resp.AccountData.Events = append(r.resp.AccountData.Events, Event{Type: ev.Type, Content: ev.Content})
		}
	}
	rf := &r.filter.Room.AccountData
	for _, id := range slices.Sorted(maps.Keys(rooms)) {
		if !rf.MatchRoom(id) {
			continue
		}
		var list *EventList
		jr, err := r.joinedSection(ctx, id)
		if err != nil {
			return err
		}
		if jr != nil {
			list = &jr.AccountData
		} else if lr := r.resp.Rooms.Leave[id]; lr != nil {
			list = &lr.AccountData
		} else {
			continue
		}
		for _, ev := range rooms[id] {
			if rf.MatchSenderTypeKey(ev.Type) {
				list.Events = append(list.Events, Event{Type: ev.Type, Content: ev.Content})
			}
		}
	}
	return nil
}

// SyncPresence records the set_presence of a syncing user (nothing
// without a presence source).
func (s *Service) SyncPresence(ctx context.Context, userID, state string) error {
	if s.stores.Presence == nil {
		return nil
	}
	return s.stores.Presence.SyncPresence(ctx, userID, state)
}

// presence fills the presence section.
func (r *syncRun) presence(ctx context.Context) error {
	r.resp.Presence.Events = []Event{}
	src := r.s.stores.Presence
	if src == nil {
		return nil
	}
	var ps []core.Presence
	if r.initial() || r.since.Presence < r.now.Presence {
		var err error
		if ps, err = src.PresenceChanges(ctx, r.req.Viewer.UserID, r.since.Presence, r.now.Presence); err != nil {
			return err
		}
	}
	if !r.initial() {
		// Users who newly share a room with the viewer: their presence,
		// changed or not, is news.
		seen := map[string]bool{}
		for _, p := range ps {
			seen[p.UserID] = true
		}
		for _, u := range slices.Sorted(maps.Keys(r.newMembers)) {
			if seen[u] {
				continue
			}
			p, err := src.Presence(ctx, u)
			if errors.Is(err, core.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			ps = append(ps, p)
		}
	}
	now := r.s.now()
	for _, p := range ps {
		if r.ignored[p.UserID] || !r.filter.Presence.MatchSenderType(p.UserID, "m.presence") {
			continue
		}
		state, active := p.Shown(now)
		c := map[string]any{"presence": state, "currently_active": active}
		if p.LastActiveTS > 0 {
			c["last_active_ago"] = max(0, now.UnixMilli()-p.LastActiveTS)
		}
		if p.StatusMsg != nil {
			c["status_msg"] = *p.StatusMsg
		}
		content, err := json.Marshal(c)
		if err != nil {
			return err
		}
		r.resp.Presence.Events = append(r.resp.Presence.Events, Event{Type: "m.presence", Sender: p.UserID, Content: content})
	}
	return nil
}

// toDevice delivers the device's to-device messages, after deleting those
// the since token shows it has received.
func (r *syncRun) toDevice(ctx context.Context) error {
	r.resp.ToDevice.Events = []core.ToDeviceMessage{}
	src := r.s.stores.ToDevice
	dev := r.req.Viewer.DeviceID
	if src == nil || dev == "" {
		return nil
	}
	user := r.req.Viewer.UserID
	if r.since.ToDevice > 0 {
		if err := src.DeleteToDeviceUpTo(ctx, user, dev, r.since.ToDevice); err != nil {
			return err
		}
	}
	msgs, next, err := src.ToDeviceSince(ctx, user, dev, r.since.ToDevice, maxToDevice)
	if err != nil {
		return err
	}
	if msgs != nil {
		r.resp.ToDevice.Events = msgs
	}
	r.now.ToDevice = max(next, r.since.ToDevice)
	return nil
}

// deviceKeys fills device_lists and the key counts.
func (r *syncRun) deviceKeys(ctx context.Context) error {
	user, dev := r.req.Viewer.UserID, r.req.Viewer.DeviceID
	if ks := r.s.stores.DeviceKeys; ks != nil && dev != "" {
		counts, err := ks.OneTimeKeyCounts(ctx, user, dev)
		if err != nil {
			return err
		}
		if counts == nil {
			counts = map[string]int{}
		}
		if _, ok := counts["signed_curve25519"]; !ok {
			counts["signed_curve25519"] = 0
		}
		r.resp.DeviceOneTimeKeysCount = counts
		types, err := ks.UnusedFallbackKeyTypes(ctx, user, dev)
		if err != nil {
			return err
		}
		if types == nil {
			types = []string{}
		}
		r.resp.DeviceUnusedFallbackKeyTypes = types
	}
	dl := r.s.stores.DeviceLists
	if dl == nil {
		return nil
	}
	lists := core.DeviceLists{Changed: []string{}, Left: []string{}}
	if !r.initial() {
		ch, err := dl.DeviceListChanges(ctx, user, r.since.DeviceLists, r.now.DeviceLists)
		if err != nil {
			return err
		}
		changed := map[string]bool{}
		for _, u := range ch.Changed {
			changed[u] = true
		}
		for u := range r.newMembers {
			changed[u] = true
		}
		left := map[string]bool{}
		if len(r.leftMembers) > 0 {
			shared, err := r.sharedUsers(ctx)
			if err != nil {
				return err
			}
			for u := range r.leftMembers {
				if !shared[u] {
					left[u] = true
					delete(changed, u)
				}
			}
		}
		lists.Changed = slices.Sorted(maps.Keys(changed))
		lists.Left = slices.Sorted(maps.Keys(left))
	}
	r.resp.DeviceLists = &lists
	return nil
}

// sharedUsers returns the users joined to a room the syncing user is
// joined to.
func (r *syncRun) sharedUsers(ctx context.Context) (map[string]bool, error) {
	ms, err := r.s.stores.State.RoomsForUser(ctx, r.req.Viewer.UserID, core.MembershipJoin)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range ms {
		if err := r.roomMembers(ctx, m.RoomID, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
