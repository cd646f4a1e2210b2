package storage

import (
	"fmt"
	"strings"

	"hearth.dev/hearth/core"
)

// sqlFedPass moves the federation sender's position (federationqueue.go)
// from ?1 - 1 to ?1, the new event's, when no other server is joined to
// room ?2 (servers other than ?3): the sender would find nothing to queue
// for it, and its own write to say so would be a second transaction for
// every message of a room only this server is in.
const sqlFedPass = `UPDATE federation_stream_position SET stream_ordering = ?1
	WHERE stream_ordering = ?1 - 1 AND NOT EXISTS (
		SELECT 1 FROM current_state_events
		WHERE room_nid = ?2 AND type = 'm.room.member' AND membership = 'join'
			AND substr(state_key, instr(state_key, ':') + 1) != ?3)`

// passFederation advances the federation position past a new local event
// that goes to no other server, in the event's own write, when everything
// before it has been queued, and reports whether it did. A membership
// event of a remote user (an invite, a kick) goes to that user's server,
// so it is left to the sender.
func (p *persister) passFederation(ev *core.NewEvent, room, so int64) (bool, error) {
	name, ok, err := p.serverName()
	if err != nil || !ok {
		return false, err
	}
	if _, domain, _ := strings.Cut(ev.Sender, ":"); domain != name {
		return false, nil
	}
	if ev.Type == typeMember && ev.StateKey != nil {
		if _, domain, _ := strings.Cut(*ev.StateKey, ":"); domain != name {
			return false, nil
		}
		// A local user's join is the sender's too: it queues their
		// presence for the room's servers (a join through another server
		// is persisted before the room's other members are).
		if ev.Membership == "join" {
			return false, nil
		}
	}
	res, err := p.q.ExecContext(p.ctx, sqlFedPass, so, room, name)
	if err != nil {
		return false, fmt.Errorf("storage: federation position past %s: %w", ev.EventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("storage: federation position past %s: %w", ev.EventID, err)
	}
	return n == 1, nil
}

// markSent moves the read position of a local sender up to their new live
// event (see markSent in notification.go), in the event's own transaction.
// A membership event other than a join leaves it: its sender is not, or
// no longer, a member whose notifications count.
func (p *persister) markSent(ev *core.NewEvent, room, so int64) error {
	if !p.live || ev.Rejected != "" || ev.SoftFailed || ev.Type == typeMember && ev.Membership != "join" {
		return nil
	}
	name, ok, err := p.serverName()
	if _, domain, _ := strings.Cut(ev.Sender, ":"); err != nil || !ok || domain != name {
		return err // without a server name, no sender is known to be local
	}
	key := sentKey{user: ev.Sender, room: room, thread: eventThread(ev.JSON)}
	if p.reads.known(key) {
		return nil // nothing unread before this event: nothing to mark
	}
	gen := p.reads.gen.Load()
	if err := markSent(p.ctx, p.q, ev.Sender, room, ev.EventID, so, key.thread, receivedTS(ev)); err != nil {
		return err
	}
	// Whether it found nothing unread or marked it read, every
	// notification is covered once this write commits.
	p.looks = append(p.looks, sentLook{key: key, gen: gen})
	return nil
}
