package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"hearth.dev/hearth/core/clientsync"
)

// FilterStore keeps the filters users upload; it implements
// clientsync.FilterStore.
type FilterStore struct {
	db *DB
}

var _ clientsync.FilterStore = (*FilterStore)(nil)

// NewFilterStore returns the filter store of db.
func NewFilterStore(db *DB) *FilterStore { return &FilterStore{db: db} }

const (
	sqlFilterByJSON = "SELECT filter_id FROM user_filters WHERE user_id = ? AND filter_json = ?"
	sqlPutFilter    = `
	INSERT INTO user_filters (user_id, filter_id, filter_json)
	VALUES (?1, (SELECT coalesce(max(filter_id), -1) + 1 FROM user_filters WHERE user_id = ?1), ?2)
	RETURNING filter_id`
	sqlFilter = "SELECT filter_json FROM user_filters WHERE user_id = ? AND filter_id = ?"
)

// PutFilter stores a filter and returns its ID; the same JSON uploaded
// again by the same user gets the same ID (clients upload their filter at
// every start). See clientsync.FilterStore.
func (s *FilterStore) PutFilter(ctx context.Context, userID string, filter []byte) (string, error) {
	var id int64
	err := s.db.Write(ctx, func(q Queryer) error {
		err := q.QueryRowContext(ctx, sqlFilterByJSON, userID, string(filter)).Scan(&id)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return q.QueryRowContext(ctx, sqlPutFilter, userID, string(filter)).Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("storage: filter of %s: %w", userID, err)
	}
	return strconv.FormatInt(id, 10), nil
}

// Filter returns a stored filter; see clientsync.FilterStore.
func (s *FilterStore) Filter(ctx context.Context, userID, filterID string) ([]byte, error) {
	id, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != filterID {
		return nil, notFound("filter %q of %s", filterID, userID)
	}
	var js string
	err = s.db.Cached().QueryRowContext(ctx, sqlFilter, userID, id).Scan(&js)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("filter %s of %s", filterID, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: filter %s of %s: %w", filterID, userID, err)
	}
	return []byte(js), nil
}
