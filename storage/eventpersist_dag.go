package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"hearth.dev/hearth/core"
)

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
