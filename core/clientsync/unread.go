package clientsync

// Unread notification counts of the joined rooms of a /sync.

import (
	"context"

	"hearth.dev/hearth/core"
)

// unread asks for a joined room's notification counts: they are read
// for all such rooms at once, by fillUnread, when the response's rooms
// are known.
func (r *syncRun) unread(roomID string, jr *JoinedRoom) {
	if r.s.stores.Notifications != nil {
		r.unreadRooms = append(r.unreadRooms, unreadRoom{roomID, jr})
	}
}

// unreadRoom is a joined room section waiting for its notification counts.
type unreadRoom struct {
	id string
	jr *JoinedRoom
}

// fillUnread fills the notification counts of the joined rooms unread
// was asked about: for the whole room, or with
// unread_thread_notifications for the main timeline and per thread. One
// read for all the rooms.
func (r *syncRun) fillUnread(ctx context.Context) error {
	if len(r.unreadRooms) == 0 {
		return nil
	}
	ids := make([]string, len(r.unreadRooms))
	for i, u := range r.unreadRooms {
		ids[i] = u.id
	}
	rooms, err := r.s.stores.Notifications.RoomsUnread(ctx, r.req.Viewer.UserID, ids)
	if err != nil {
		return err
	}
	counts := func(c core.UnreadCounts) NotificationCounts {
		return NotificationCounts{HighlightCount: c.Highlights, NotificationCount: c.Notifications}
	}
	byThread := r.timelineFilter().UnreadThreadNotifications
	for _, u := range r.unreadRooms {
		threads, jr := rooms[u.id], u.jr
		if !byThread {
			var all core.UnreadCounts
			for _, t := range threads {
				all.Notifications += t.Notifications
				all.Highlights += t.Highlights
			}
			c := counts(all)
			jr.UnreadNotifications = &c
			continue
		}
		c := counts(threads[core.ThreadMain])
		jr.UnreadNotifications = &c
		for id, t := range threads {
			if id == core.ThreadMain || t == (core.UnreadCounts{}) {
				continue
			}
			if jr.UnreadThreadNotifications == nil {
				jr.UnreadThreadNotifications = map[string]NotificationCounts{}
			}
			jr.UnreadThreadNotifications[id] = counts(t)
		}
	}
	r.unreadRooms = nil
	return nil
}
