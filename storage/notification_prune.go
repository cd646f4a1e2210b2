package storage

import (
	"context"
	"fmt"
	"time"
)

// ReadPushActionRetention is how long a notification the user has read
// (a receipt or their own later event covers it) stays in
// event_push_actions, where GET /notifications lists it. Unread counts
// are taken from the unread rows only, so pruning read ones changes none.
// Synapse deletes read notifications as the receipt arrives and the rest
// a day after they were summarised, keeping highlights; here read
// notifications are kept for a day, highlights until the room goes.
const ReadPushActionRetention = 24 * time.Hour

// sqlPruneReadPushActions deletes up to ?2 notifications that are not
// highlights, older than ?1 (ms), and read: at or before the user's
// unthreaded read position or that of their thread (see readPositions).
const sqlPruneReadPushActions = `DELETE FROM event_push_actions WHERE (user_id, event_nid) IN (
	SELECT a.user_id, a.event_nid FROM event_push_actions a
	WHERE a.highlight = 0 AND a.ts < ?1 AND a.stream_ordering <= (
		SELECT coalesce(max(r.event_stream), 0) FROM receipts r
		WHERE r.room_nid = a.room_nid AND r.user_id = a.user_id
			AND r.receipt_type IN ('m.read', 'm.read.private', 'hearth.sent') AND r.thread_id IN ('', a.thread_id))
	LIMIT ?2)`

// PruneReadPushActions deletes up to limit read notifications, other than
// highlights, recorded before the time before (ms since the epoch), in one
// write, and returns how many it deleted: fewer than limit when none are
// left.
func (s *NotificationStore) PruneReadPushActions(ctx context.Context, before int64, limit int) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, sqlPruneReadPushActions, before, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("storage: prune read notifications: %w", err)
	}
	return n, nil
}
