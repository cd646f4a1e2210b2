package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// Local users' presence for other servers (delta 2/25). The presence table
// holds one row per user at the stream position of its last visible
// change, so the rows past the sender's position are the newest state of
// each user who changed: what Synapse's federation sender keeps pending
// per destination. A destination gets one m.presence EDU per user, and a
// newer one replaces the one still waiting in its queue.

const (
	sqlPresenceOutPos    = "SELECT stream_id FROM presence_outbound_position"
	sqlPresenceOutSetPos = "UPDATE presence_outbound_position SET stream_id = ?"
	sqlPresenceOutTop    = "SELECT stream_id FROM stream_positions WHERE stream_name = 'presence'"
	sqlPresenceOutNew    = `SELECT user_id, state, status_msg, last_active_ts, stream_id FROM presence
		WHERE stream_id > ? AND substr(user_id, instr(user_id, ':') + 1) = ? ORDER BY stream_id LIMIT ?`
	// An m.presence EDU still queued for a destination that speaks only
	// of userID: the newer one replaces it.
	sqlPresenceOutDropQueued = `DELETE FROM federation_outbound_edus WHERE destination = ? AND edu_type = 'm.presence'
		AND json_valid(content) AND json_array_length(content, '$.push') = 1 AND json_extract(content, '$.push[0].user_id') = ?`
)

// presencePush is one entry of an m.presence EDU's push list.
type presencePush struct {
	UserID          string  `json:"user_id"`
	Presence        string  `json:"presence"`
	LastActiveAgo   int64   `json:"last_active_ago"`
	CurrentlyActive *bool   `json:"currently_active,omitempty"`
	StatusMsg       *string `json:"status_msg,omitempty"`
}

// QueuePresenceUpdates queues, for each local user whose presence changed
// since the last call, an m.presence EDU with their current presence for
// every other server sharing a room with them, and advances past them; see
// core.FederationQueueStore.
func (s *FederationQueueStore) QueuePresenceUpdates(ctx context.Context, limit int) ([]string, bool, error) {
	if limit <= 0 {
		return nil, false, errors.New("storage: QueuePresenceUpdates needs a positive limit")
	}
	// QueueWaiting told the sender a local user's presence changed: no
	// read first.
	var dests []string
	var more bool
	err := s.db.Write(ctx, func(q Queryer) error {
		var err error
		dests, more, err = queuePresenceUpdates(ctx, q, limit, time.Now())
		return err
	})
	return dests, more, err
}

func queuePresenceUpdates(ctx context.Context, q Queryer, limit int, now time.Time) ([]string, bool, error) {
	var pos, top int64
	if err := q.QueryRowContext(ctx, sqlPresenceOutPos).Scan(&pos); err != nil {
		return nil, false, fmt.Errorf("storage: presence position: %w", err)
	}
	if err := q.QueryRowContext(ctx, sqlPresenceOutTop).Scan(&top); err != nil {
		return nil, false, fmt.Errorf("storage: presence position: %w", err)
	}
	var server string
	if err := q.QueryRowContext(ctx, "SELECT value FROM server_config WHERE key = 'server_name'").Scan(&server); err != nil {
		return nil, false, fmt.Errorf("storage: server name: %w", err)
	}
	rows, err := q.QueryContext(ctx, sqlPresenceOutNew, pos, server, limit)
	if err != nil {
		return nil, false, fmt.Errorf("storage: presence changes to send: %w", err)
	}
	var changed []core.Presence
	var last int64
	for rows.Next() {
		p := core.Presence{}
		var msg sql.NullString
		if err := rows.Scan(&p.UserID, &p.Presence, &msg, &p.LastActiveTS, &last); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("storage: presence changes to send: %w", err)
		}
		if msg.Valid {
			p.StatusMsg = &msg.String
		}
		changed = append(changed, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("storage: presence changes to send: %w", err)
	}
	more := len(changed) == limit
	next := top
	if more {
		next = last
	}
	touched := map[string]bool{}
	var dests []string
	for _, p := range changed {
		servers, err := userServers(ctx, q, p.UserID, server)
		if err != nil {
			return nil, false, err
		}
		if len(servers) == 0 {
			continue
		}
		content, err := json.Marshal(map[string][]presencePush{"push": {presenceForEDU(p, now)}})
		if err != nil {
			return nil, false, fmt.Errorf("storage: presence of %s: %w", p.UserID, err)
		}
		for _, d := range servers {
			if _, err := q.ExecContext(ctx, sqlPresenceOutDropQueued, d, p.UserID); err != nil {
				return nil, false, fmt.Errorf("storage: replacing queued presence for %s: %w", d, err)
			}
			if _, err := q.ExecContext(ctx, sqlFedQueueEDU, d, "m.presence", content); err != nil {
				return nil, false, fmt.Errorf("storage: queue presence for %s: %w", d, err)
			}
			if !touched[d] {
				touched[d] = true
				dests = append(dests, d)
			}
		}
	}
	if _, err := q.ExecContext(ctx, sqlPresenceOutSetPos, next); err != nil {
		return nil, false, fmt.Errorf("storage: presence position: %w", err)
	}
	return dests, more, nil
}

// queueJoinPresence queues the current presence of userID, a local user
// who joined a room, for the room's other servers dests (nothing when no
// presence was ever recorded).
func queueJoinPresence(ctx context.Context, q Queryer, userID, server string, dests []string) error {
	p, ok, err := getPresence(ctx, q, userID)
	if err != nil || !ok {
		return err
	}
	content, err := json.Marshal(map[string][]presencePush{"push": {presenceForEDU(p, time.Now())}})
	if err != nil {
		return fmt.Errorf("storage: presence of %s: %w", userID, err)
	}
	for _, d := range dests {
		if d == "" || d == server {
			continue
		}
		if _, err := q.ExecContext(ctx, sqlPresenceOutDropQueued, d, userID); err != nil {
			return fmt.Errorf("storage: replacing queued presence for %s: %w", d, err)
		}
		if _, err := q.ExecContext(ctx, sqlFedQueueEDU, d, "m.presence", content); err != nil {
			return fmt.Errorf("storage: queue presence for %s: %w", d, err)
		}
	}
	return nil
}

// presenceForEDU is p as another server is shown it at now (an idle online
// user as unavailable, as /sync shows them).
func presenceForEDU(p core.Presence, now time.Time) presencePush {
	state, active := p.Shown(now)
	out := presencePush{UserID: p.UserID, Presence: state, StatusMsg: p.StatusMsg}
	if p.LastActiveTS > 0 {
		out.LastActiveAgo = max(0, now.UnixMilli()-p.LastActiveTS)
	}
	if state == core.PresenceOnline {
		out.CurrentlyActive = &active
	}
	return out
}
