package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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
		// Detached once: the writer runs every statement without the
		// caller's cancellation (writerQueryer).
		p := persister{ctx: detach(ctx), q: q, maxHops: s.maxHops(), rooms: map[string]int64{}, cache: &s.states,
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

// noteSearchStale makes the searches' counts kept go once the write is
// done (searchcountcache.go).
func (p *persister) noteSearchStale() {
	if !noteSearchStale(p.q) {
		p.searchStale = true
	}
}
