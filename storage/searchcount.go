package storage

import (
	"context"
	"encoding/json"

	"hearth.dev/hearth/core/clientsync"
)

// A search's count is every match in the scope, up to max. An estimate
// from the share of the index's newest matches that pass the scope was
// tried and dropped: matches are not spread evenly over rooms and time (a
// room the user left, or history before a join, can hold most of them), so
// a count of 100 in one room came out as 160, or as the cap.

// CountSearch counts the events SearchEvents would find for q, leaving out
// those sent by skipSenders, up to max; see clientsync.SearchStore.
func (s *EventStore) CountSearch(ctx context.Context, q clientsync.SearchQuery, skipSenders []string, max int) (int, error) {
	if len(q.Words) == 0 || len(q.RoomIDs) == 0 && q.Member == "" || max <= 0 {
		return 0, nil
	}
	if _, err := searchKeyColumns(q.Keys); err != nil {
		return 0, err
	}
	queries, scope, err := searchScopeArg(q)
	if err != nil {
		return 0, err
	}
	skip, err := json.Marshal(append([]string{}, skipSenders...))
	if err != nil {
		return 0, err
	}
	if err := s.db.waitSearchIndex(ctx); err != nil {
		return 0, err
	}
	var n int
	err = s.read(ctx, queries.prepared(sqlPrefixTerms, queries.count), func(r reader) error {
		if empty, err := emptyScope(r, queries, scope); err != nil || empty {
			return err
		}
		match, err := matchExpression(r, q.Words, q.Keys)
		if err != nil || match == "" {
			return err
		}
		err = r.queryRow(queries.count, scope, match, string(skip), max).Scan(&n)
		return wrapErr("search count", err)
	})
	return n, err
}
