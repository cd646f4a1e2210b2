package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"hearth.dev/hearth/core"
)

const (
	typeMember    = "m.room.member"
	typeRedaction = "m.room.redaction"
)

// PersistEvents stores a batch of events; see core.EventStore.
func (s *EventStore) PersistEvents(ctx context.Context, events []core.NewEvent, opts core.PersistOptions) ([]int64, error) {
	for i := range events {
		if err := checkNewEvent(&events[i]); err != nil {
			return nil, err
		}
	}
	var out []int64
	var created []newGroupState
	var members bool
	var sets map[string]int64
	var looks []sentLook
	var searchStale bool
	err := s.db.Write(ctx, func(q Queryer) error {
		p := persister{ctx: ctx, q: q, maxHops: s.maxHops(), rooms: map[string]int64{}, cache: &s.states,
			server: s.serverName.Load(), authSets: &s.authSets, reads: &s.db.sentReads}
		var err error
		out, err = p.persist(events, opts)
		if err == nil && !p.outbound {
			noteOutboundIdle(q)
		}
		created, members, sets, looks = p.created, p.members, p.newSets, p.looks
		searchStale = p.searchStale
		if p.server != nil {
			s.serverName.Store(p.server)
		}
		return err
	})
	if members {
		// Changes the writer did not hear of (committed or rolled back):
		// either way cached room lists go.
		s.db.members.invalidate()
	}
	if members || searchStale {
		s.db.search.counts.stale()
	}
	if err != nil {
		return nil, err
	}
	s.states.remember(created)
	s.authSets.remember(sets)
	s.db.sentReads.remember(looks)
	return out, nil
}

// checkNewEvent refuses an event that lacks what storing it needs.
func checkNewEvent(ev *core.NewEvent) error {
	switch {
	case ev.EventID == "" || ev.RoomID == "" || ev.Type == "" || ev.Sender == "":
		return invalid("event %q needs an ID, a room, a type and a sender", ev.EventID)
	case len(ev.JSON) == 0:
		return invalid("event %s has no JSON", ev.EventID)
	case ev.Type == typeMember && (ev.StateKey == nil || ev.Membership == ""):
		return invalid("membership event %s needs a state key and a membership", ev.EventID)
	case !ev.Outlier && ev.StateGroup <= 0 && ev.NewStateGroup == nil:
		return invalid("event %s is not an outlier but has no state group", ev.EventID)
	case ev.OutOfBandMembership && (!ev.Outlier || ev.Type != typeMember):
		return invalid("event %s: only outlier membership events are out-of-band", ev.EventID)
	case ev.Txn != nil && (ev.Txn.UserID == "" || ev.Txn.TxnID == ""):
		return invalid("event %s: a transaction needs a user and an ID", ev.EventID)
	}
	return nil
}

// persister is one PersistEvents call inside the writer's transaction.
type persister struct {
	ctx     context.Context
	q       Queryer
	maxHops int
	rooms   map[string]int64
	server  *string // the local server name, read when first needed
	cache   *stateCache
	created []newGroupState  // state groups to cache once committed
	groups  map[string]int64 // event ID -> state group, for this batch's events
	live    bool             // the batch is not backfilled: its senders' read positions move
	chained []*chainEvent    // new state events, for the auth chain index
	members bool             // a local user's membership row was written outside the writer
	// searchStale: the write, outside the writer, changed what searches'
	// counts kept hold (noteSearchStale).
	searchStale bool
	// outbound: an event took a stream position that the federation
	// sender's position did not pass in this write, so the sender may
	// have work (federationqueue_idle.go).
	outbound bool
	// authSets are the store's known auth sets; newSets those this write
	// found or stored, remembered once it commits.
	authSets *authSetCache
	newSets  map[string]int64
	// reads are the read positions known to cover every notification;
	// looks what this write found, remembered once it commits.
	reads *sentReads
	looks []sentLook
}

func (p *persister) room(roomID string) (int64, error) {
	if nid, ok := p.rooms[roomID]; ok {
		return nid, nil
	}
	keys := writerKeysOf(p.q)
	nid, ok := keys.roomOf(roomID)
	if !ok {
		var err error
		if nid, err = roomNID(reader{ctx: p.ctx, q: p.q}, roomID); err != nil {
			return 0, err
		}
		if keys != nil {
			keys.setRoom(roomID, nid)
		}
	}
	p.rooms[roomID] = nid
	return nid, nil
}

// isLocal reports whether userID belongs to this server.
func (p *persister) isLocal(userID string) (bool, error) {
	name, ok, err := p.serverName()
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errors.New("storage: the database has no server name, so local memberships cannot be told apart")
	}
	_, domain, found := strings.Cut(userID, ":")
	return found && domain == name, nil
}

// serverName returns the local server name, or false if the database has
// none yet.
func (p *persister) serverName() (string, bool, error) {
	if p.server == nil {
		var name string
		err := p.q.QueryRowContext(p.ctx, "SELECT value FROM server_config WHERE key = 'server_name'").Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("storage: server name: %w", err)
		}
		p.server = &name
	}
	return *p.server, true, nil
}

func (p *persister) persist(events []core.NewEvent, opts core.PersistOptions) ([]int64, error) {
	stream := liveStream
	if opts.Backfilled {
		stream = backfillStream
	}
	p.live = !opts.Backfilled
	if opts.NewRoom != nil {
		if err := storeRoom(p.ctx, p.q, *opts.NewRoom); err != nil {
			return nil, err
		}
	}
	for _, a := range opts.NewAliases {
		if err := createAlias(p.ctx, p.q, a.Alias, a.RoomID, a.Creator); err != nil {
			return nil, err
		}
	}
	out := make([]int64, len(events))
	for i := range events {
		so, err := p.persistOne(&events[i], stream)
		if err != nil {
			return nil, err
		}
		out[i] = so
	}
	if err := newChainIndexer(p.ctx, p.q).indexNew(p.chained); err != nil {
		return nil, err
	}
	for _, d := range opts.CurrentState {
		if err := p.applyCurrentState(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// storedEvent is what persistOne needs to know of an already stored event.
type storedEvent struct {
	nid     int64
	outlier bool
	stream  int64
}

// lookup returns the room's key and what is stored of the event, in one
// statement (single sends are the common case, and every statement is
// prepared anew).
func (p *persister) lookup(roomID, eventID string) (int64, storedEvent, bool, error) {
	var room int64
	var nid, stream sql.NullInt64
	var outlier sql.NullBool
	err := p.q.QueryRowContext(p.ctx, `
		SELECT r.room_nid, e.event_nid, e.outlier, e.stream_ordering
		FROM rooms r LEFT JOIN events e ON e.event_id = ?
		WHERE r.room_id = ?`, eventID, roomID).Scan(&room, &nid, &outlier, &stream)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, storedEvent{}, false, notFound("room %s", roomID)
	}
	if err != nil {
		return 0, storedEvent{}, false, fmt.Errorf("storage: look up event %s: %w", eventID, err)
	}
	return room, storedEvent{nid: nid.Int64, outlier: outlier.Bool, stream: stream.Int64}, nid.Valid, nil
}

func (p *persister) persistOne(ev *core.NewEvent, stream StreamIDs) (int64, error) {
	// A Built event is new: its row's insert finds the room (room 0 below).
	var room int64
	var old storedEvent
	var exists bool
	if !ev.Built {
		var err error
		if room, old, exists, err = p.lookup(ev.RoomID, ev.EventID); err != nil {
			return 0, err
		}
	}
	if exists && (!old.outlier || ev.Outlier) {
		return old.stream, nil // already stored as well as it can be
	}
	so, err := stream.Next(p.ctx, p.q, 1)
	if err != nil {
		return 0, err
	}
	noteEventsStored(p.q)
	rejected := nullString(ev.Rejected)
	nid := old.nid
	if exists {
		// De-outlier: it joins the timeline now, at a new stream position,
		// where the full-text index takes it again (searchindex.go).
		_, err = p.q.ExecContext(p.ctx,
			"UPDATE events SET outlier = 0, stream_ordering = ?, soft_failed = ?, rejection_reason = ? WHERE event_nid = ?",
			so, ev.SoftFailed, rejected, nid)
		if err != nil {
			return 0, fmt.Errorf("storage: de-outlier %s: %w", ev.EventID, err)
		}
		p.noteSearchStale()
		if searchIndexed(ev.Type) {
			if _, err := p.q.ExecContext(p.ctx, "DELETE FROM event_search WHERE rowid = ?", nid); err != nil {
				return 0, fmt.Errorf("storage: de-outlier %s: %w", ev.EventID, err)
			}
		}
	} else {
		if nid, room, err = p.insert(ev, room, so, rejected); err != nil {
			return 0, err
		}
		if err := p.chain(ev, room, nid); err != nil {
			return 0, err
		}
	}
	if !ev.Outlier {
		if err := p.linkIntoDAG(ev, room, nid); err != nil {
			return 0, err
		}
		if err := p.markSent(ev, room, so); err != nil {
			return 0, err
		}
		if p.live && len(ev.Notifications) > 0 {
			p.reads.forget()
			if err := recordNotifications(p.ctx, p.q, nid, room, so, ev.Notifications, receivedTS(ev)); err != nil {
				return 0, err
			}
		}
	}
	passed := false
	if p.live {
		if passed, err = p.passFederation(ev, room, so); err != nil {
			return 0, err
		}
	}
	if !passed {
		p.outbound = true
	}
	return so, nil
}

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

// receivedTS is when the server received or created ev, now if unset.
func receivedTS(ev *core.NewEvent) int64 {
	if ev.ReceivedTS != 0 {
		return ev.ReceivedTS
	}
	return time.Now().UnixMilli()
}

// sqlInsertEvent inserts an event's row into the room whose ID is ?2
// (NULL if there is none, which the NOT NULL constraint refuses) and
// returns the keys of both.
const sqlInsertEvent = `
	INSERT INTO events (event_id, room_nid, type, state_key, sender, stream_ordering,
		topological_ordering, origin_server_ts, received_ts, outlier, soft_failed,
		rejection_reason, contains_url)
	VALUES (?1, (SELECT room_nid FROM rooms WHERE room_id = ?2),
		?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
	RETURNING event_nid, room_nid`

// sqlInsertEventIn inserts an event's row into room ?2, known: without
// RETURNING (writerkeys.go), its event_nid is the last rowid inserted.
const sqlInsertEventIn = `
	INSERT INTO events (event_id, room_nid, type, state_key, sender, stream_ordering,
		topological_ordering, origin_server_ts, received_ts, outlier, soft_failed,
		rejection_reason, contains_url)
	VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`

// insert writes a new event's rows, except what only non-outliers get, in
// room (0: the room named by the event: its key the writer remembers, or
// looked up as the row is inserted).
// It returns the event's and the room's keys.
func (p *persister) insert(ev *core.NewEvent, room, so int64, rejected sql.NullString) (int64, int64, error) {
	received := receivedTS(ev)
	var stateKey sql.NullString
	if ev.StateKey != nil {
		stateKey = sql.NullString{String: *ev.StateKey, Valid: true}
	}
	keys := writerKeysOf(p.q)
	if room == 0 {
		room, _ = keys.roomOf(ev.RoomID)
	}
	var nid int64
	if room != 0 {
		res, err := p.q.ExecContext(p.ctx, sqlInsertEventIn,
			ev.EventID, room, ev.Type, stateKey, ev.Sender, so,
			ev.Depth, ev.OriginServerTS, received, ev.Outlier, ev.SoftFailed,
			rejected, ev.ContainsURL)
		if err == nil {
			nid, err = res.LastInsertId()
		}
		if err != nil {
			return 0, 0, fmt.Errorf("storage: insert event %s: %w", ev.EventID, err)
		}
	} else {
		err := p.q.QueryRowContext(p.ctx, sqlInsertEvent,
			ev.EventID, ev.RoomID, ev.Type, stateKey, ev.Sender, so,
			ev.Depth, ev.OriginServerTS, received, ev.Outlier, ev.SoftFailed,
			rejected, ev.ContainsURL).Scan(&nid, &room)
		if errors.Is(err, sqlite3.CONSTRAINT_NOTNULL) {
			return 0, 0, notFound("room %s", ev.RoomID)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("storage: insert event %s: %w", ev.EventID, err)
		}
	}
	if keys != nil {
		keys.setRoom(ev.RoomID, room)
	}
	p.rooms[ev.RoomID] = room
	var meta any
	if m := stripTxnMetadata(ev.InternalMetadata, ev.Txn); len(m) > 0 {
		meta = string(m)
	}
	// The JSON is kept without what the row above holds and its auth
	// events, stored once for the events that share them (eventjson.go).
	f := eventRowFields{EventID: ev.EventID, RoomID: ev.RoomID, Type: ev.Type, Sender: ev.Sender,
		StateKey: ev.StateKey, Depth: ev.Depth, OriginServerTS: ev.OriginServerTS, StripAuth: true}
	js, stripped := stripEventJSON(ev.JSON, &f)
	var authSet any
	if stripped&strippedAuthEvents != 0 {
		id, err := p.authSet(f.authRaw)
		if err != nil {
			return 0, 0, err
		}
		authSet = id
	}
	if _, err := p.q.ExecContext(p.ctx,
		"INSERT INTO event_json (event_nid, internal_metadata, json, format_version, stripped, auth_set) VALUES (?, ?, ?, ?, ?, ?)",
		nid, meta, js, ev.FormatVersion, stripped, authSet); err != nil {
		return 0, 0, fmt.Errorf("storage: insert event %s JSON: %w", ev.EventID, err)
	}
	if ev.Type == typeMember {
		if _, err := p.q.ExecContext(p.ctx,
			"INSERT INTO room_memberships (event_nid, room_nid, user_id, sender, membership) VALUES (?, ?, ?, ?, ?)",
			nid, room, *ev.StateKey, ev.Sender, ev.Membership); err != nil {
			return 0, 0, fmt.Errorf("storage: membership of %s: %w", ev.EventID, err)
		}
		if ev.OutOfBandMembership {
			if err := p.setLocalMembership(*ev.StateKey, room, nid, ev.Membership); err != nil {
				return 0, 0, err
			}
		}
	}
	if ev.Type == typeRedaction && ev.Redacts != "" {
		if _, err := p.q.ExecContext(p.ctx,
			"INSERT INTO redactions (event_nid, redacts) VALUES (?, ?)", nid, ev.Redacts); err != nil {
			return 0, 0, fmt.Errorf("storage: redaction %s: %w", ev.EventID, err)
		}
		p.noteSearchStale()
	}
	if ev.Txn != nil {
		if err := p.storeTxn(ev, nid, room, received); err != nil {
			return 0, 0, err
		}
	}
	return nid, room, nil
}

// sqlPriorMembership and sqlRoomTextBefore are run by setLocalMembership
// to tell whether a membership change makes the searches' counts and
// windows kept stale (searchcountcache.go, searchrankcache.go).
const (
	// sqlPriorMembership reads a local user's membership of a room
	// before a write changes it.
	sqlPriorMembership = `SELECT membership FROM local_current_membership WHERE user_id = ?1 AND room_nid = ?2`
	// sqlRoomTextBefore reports whether room ?1 holds a timeline event of
	// an indexed type stored before event ?2 (outliers are not found by
	// searches; one joining the timeline moves the generation). The
	// room's events are walked through a room index (outlier = 0 lets
	// the partial ones serve, +event_nid keeps the planner off a walk of
	// every older event_nid).
	sqlRoomTextBefore = `SELECT EXISTS (SELECT 1 FROM events
	WHERE room_nid = ?1 AND outlier = 0 AND +event_nid < ?2 AND type IN ` + sqlIndexedTypes + `)`
)

// searchScoped reports whether a membership puts its room in the scopes
// of a user's rooms (search.go): a join, a leave or a ban.
func searchScoped(membership string) bool {
	return membership == "join" || membership == "leave" || membership == "ban"
}

// setLocalMembership records a local user's latest membership of a room
// (only local users are recorded).
func (p *persister) setLocalMembership(userID string, room, nid int64, membership string) error {
	local, err := p.isLocal(userID)
	if err != nil || !local {
		return err
	}
	// The scopes of a user's rooms take those of a join, a leave or a
	// ban (search.go). A change from one of them to another, or out of
	// them, makes what searches keep stale; a change into them from
	// outside (none, an invite, a knock) does only when the room held
	// text before it: the room enters a scope whole (the ranks kept,
	// searchrankcache.go), while the counts after the joins gain only
	// what follows (searchcountcache.go).
	var prior string
	switch err := p.q.QueryRowContext(p.ctx, sqlPriorMembership, userID, room).Scan(&prior); {
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	case searchScoped(prior):
		p.noteSearchStale()
	case searchScoped(membership):
		var older bool
		if err := p.q.QueryRowContext(p.ctx, sqlRoomTextBefore, room, nid).Scan(&older); err != nil {
			return fmt.Errorf("storage: membership of %s: %w", userID, err)
		}
		if older {
			p.noteSearchStale()
		}
	}
	_, err = p.q.ExecContext(p.ctx, `
		INSERT INTO local_current_membership (user_id, room_nid, event_nid, membership) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, room_nid) DO UPDATE SET event_nid = excluded.event_nid, membership = excluded.membership`,
		userID, room, nid, membership)
	if err != nil {
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	}
	return noteMemberChange(p, userID, room, nid, membership, false)
}

// linkIntoDAG records what a non-outlier has beyond its rows: its state
// group, its edges and the extremity changes of seed 004.
func (p *persister) linkIntoDAG(ev *core.NewEvent, room, nid int64) error {
	group := ev.StateGroup
	if ev.NewStateGroup != nil {
		delta := *ev.NewStateGroup
		if delta.PrevEvent != "" {
			prev, err := p.groupOf(delta.PrevEvent)
			if err != nil {
				return fmt.Errorf("storage: state group of %s, based on %s's: %w", ev.EventID, delta.PrevEvent, err)
			}
			delta.Prev = prev
		}
		var err error
		var created newGroupState
		group, created, err = storeStateGroup(p.ctx, p.q, p.cache, ev.RoomID, ev.EventID, delta, p.maxHops)
		if err != nil {
			return err
		}
		p.created = append(p.created, created)
	}
	if p.groups == nil {
		p.groups = map[string]int64{}
	}
	p.groups[ev.EventID] = group
	// Only an existing group may be named.
	res, err := p.q.ExecContext(p.ctx,
		"INSERT INTO event_to_state_groups (event_nid, state_group) SELECT ?, id FROM state_groups WHERE id = ?", nid, group)
	if err != nil {
		return fmt.Errorf("storage: state group of %s: %w", ev.EventID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: state group of %s: %w", ev.EventID, err)
	} else if n == 0 {
		return notFound("state group %d of event %s", group, ev.EventID)
	}
	// The DAG's edges are the prev_events of the event's JSON; no table
	// repeats them (delta 2/63).
	prevs := slices.Compact(slices.Sorted(slices.Values(ev.PrevEvents)))

	// A persisted event stops being a backward extremity. Whether a counted
	// event already references it decides below if it is a forward one.
	// A Built event is named by nothing stored, so it is none.
	var hasSuccessor bool
	if !ev.Built {
		err = p.q.QueryRowContext(p.ctx,
			"DELETE FROM event_backward_extremities WHERE room_nid = ? AND event_id = ? RETURNING has_successor",
			room, ev.EventID).Scan(&hasSuccessor)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("storage: backward extremity %s: %w", ev.EventID, err)
		}
	}
	if ev.Rejected != "" {
		// Rejected events are stored with their edges but count for
		// nothing: they neither extend the DAG's ends nor call for the
		// backfill of their ancestors.
		return nil
	}
	// Counted events are those that can be forward extremities: not
	// rejected, not soft-failed (seed 004).
	counted := !ev.SoftFailed
	for _, prev := range prevs {
		if counted {
			// Its prev_events stop being forward extremities. Only stored
			// non-outliers are, so a prev that was one needs nothing more
			// (the common case, in one statement; without RETURNING, whose
			// table of returned rows costs more than the delete).
			res, err := p.q.ExecContext(p.ctx, sqlDropForwardExtremity, room, prev)
			if err != nil {
				return fmt.Errorf("storage: forward extremity %s: %w", prev, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("storage: forward extremity %s: %w", prev, err)
			} else if n > 0 {
				continue
			}
		}
		// Its prev_events not persisted as non-outliers become backward
		// extremities.
		if _, err := p.q.ExecContext(p.ctx, `
			INSERT INTO event_backward_extremities (room_nid, event_id, has_successor)
			SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = ? AND outlier = 0)
			ON CONFLICT (room_nid, event_id) DO UPDATE SET has_successor = max(has_successor, excluded.has_successor)`,
			room, prev, counted, prev); err != nil {
			return fmt.Errorf("storage: backward extremity %s: %w", prev, err)
		}
	}
	if counted && !hasSuccessor {
		// It becomes a forward extremity unless something references it.
		if _, err := p.q.ExecContext(p.ctx,
			"INSERT INTO event_forward_extremities (room_nid, event_nid) VALUES (?, ?) ON CONFLICT DO NOTHING",
			room, nid); err != nil {
			return fmt.Errorf("storage: forward extremity %s: %w", ev.EventID, err)
		}
	}
	return nil
}

// sqlDropForwardExtremity drops event ?2 (an ID) from room ?1's forward
// extremities.
const sqlDropForwardExtremity = `DELETE FROM event_forward_extremities
	WHERE room_nid = ? AND event_nid = (SELECT event_nid FROM events WHERE event_id = ?)`

// groupOf returns the state group of eventID: one this batch stored, or
// one stored before.
func (p *persister) groupOf(eventID string) (int64, error) {
	if g, ok := p.groups[eventID]; ok {
		return g, nil
	}
	return stateGroupOf(reader{ctx: p.ctx, q: p.q}, eventID)
}

// applyCurrentState writes one room's change of current state.
func (p *persister) applyCurrentState(d core.CurrentStateDelta) error {
	room, err := p.room(d.RoomID)
	if err != nil {
		return err
	}
	for _, key := range slices.SortedFunc(maps.Keys(d.Changes), compareStateKeys) {
		eventID := d.Changes[key]
		if eventID == "" {
			if _, err := p.q.ExecContext(p.ctx,
				"DELETE FROM current_state_events WHERE room_nid = ? AND type = ? AND state_key = ?",
				room, key.Type, key.StateKey); err != nil {
				return fmt.Errorf("storage: current state %v: %w", key, err)
			}
			if key.Type == typeMember {
				if err := p.dropLocalMembership(key.StateKey, room); err != nil {
					return err
				}
			}
			continue
		}
		var nid, evRoom int64
		var typ string
		var stateKey, rejected, membership sql.NullString
		err := p.q.QueryRowContext(p.ctx, `
			SELECT e.event_nid, e.room_nid, e.type, e.state_key, e.rejection_reason, m.membership
			FROM events e LEFT JOIN room_memberships m ON m.event_nid = e.event_nid
			WHERE e.event_id = ?`, eventID).Scan(&nid, &evRoom, &typ, &stateKey, &rejected, &membership)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return notFound("current state %v: event %s", key, eventID)
		case err != nil:
			return fmt.Errorf("storage: current state %v: %w", key, err)
		case evRoom != room || typ != key.Type || !stateKey.Valid || stateKey.String != key.StateKey:
			return invalid("current state %v of %s: event %s is another room's or key's", key, d.RoomID, eventID)
		case rejected.Valid:
			return invalid("current state %v: event %s was rejected", key, eventID)
		}
		if _, err := p.q.ExecContext(p.ctx, `
			INSERT INTO current_state_events (room_nid, type, state_key, event_nid, membership) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (room_nid, type, state_key) DO UPDATE SET event_nid = excluded.event_nid, membership = excluded.membership`,
			room, key.Type, key.StateKey, nid, membership); err != nil {
			return fmt.Errorf("storage: current state %v: %w", key, err)
		}
		if key.Type == typeMember {
			if err := p.setLocalMembership(key.StateKey, room, nid, membership.String); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *persister) dropLocalMembership(userID string, room int64) error {
	local, err := p.isLocal(userID)
	if err != nil || !local {
		return err
	}
	if _, err := p.q.ExecContext(p.ctx,
		"DELETE FROM local_current_membership WHERE user_id = ? AND room_nid = ?", userID, room); err != nil {
		return fmt.Errorf("storage: membership of %s: %w", userID, err)
	}
	p.noteSearchStale()
	return noteMemberChange(p, userID, room, 0, "", true)
}

// stripTxnMetadata returns meta, an event's internal metadata (a JSON
// object), without the txn_id and device_id of txn: event_txn_id keeps
// those, and the readers put them back (sqlInternalMetadata). Anything
// else, or metadata naming another transaction, is kept as it is.
func stripTxnMetadata(meta []byte, txn *core.TxnID) []byte {
	if txn == nil || len(meta) == 0 {
		return meta
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(meta, &m) != nil {
		return meta
	}
	var id, dev string
	if json.Unmarshal(m["txn_id"], &id) != nil || json.Unmarshal(m["device_id"], &dev) != nil ||
		id != txn.TxnID || dev != txn.DeviceID {
		return meta
	}
	delete(m, "txn_id")
	delete(m, "device_id")
	if len(m) == 0 {
		return nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return meta
	}
	return out
}

// noteSearchStale makes the searches' counts kept go once the write is
// done (searchcountcache.go).
func (p *persister) noteSearchStale() {
	if !noteSearchStale(p.q) {
		p.searchStale = true
	}
}
