package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"hearth.dev/hearth/core"
)

// FederationTxnStore remembers the answers to inbound federation
// transactions (core.FederationTxnStore).
type FederationTxnStore struct{ db *DB }

var _ core.FederationTxnStore = (*FederationTxnStore)(nil)

// NewFederationTxnStore returns the store of inbound transaction answers.
func NewFederationTxnStore(db *DB) *FederationTxnStore { return &FederationTxnStore{db: db} }

// receivedTxnRetention is how long an answer is kept: servers retry a
// transaction for minutes to hours, never for a week.
const receivedTxnRetention = 7 * 24 * time.Hour

// FederationTxnResponse returns the stored answer, or an error wrapping
// core.ErrNotFound.
func (s *FederationTxnStore) FederationTxnResponse(ctx context.Context, origin, txnID string) ([]byte, error) {
	var b []byte
	err := s.db.reader.QueryRowContext(ctx, "SELECT response_json FROM received_transactions WHERE origin = ? AND txn_id = ?", origin, txnID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("storage: transaction %s from %s: %w", txnID, origin, core.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: read transaction: %w", err)
	}
	return b, nil
}

// StoreFederationTxnResponse records the answer, and forgets answers older
// than the retention in the same write.
func (s *FederationTxnStore) StoreFederationTxnResponse(ctx context.Context, origin, txnID string, response []byte) error {
	now := time.Now().UnixMilli()
	return s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO received_transactions (origin, txn_id, response_json, received_ts)
VALUES (?, ?, ?, ?) ON CONFLICT (origin, txn_id) DO NOTHING`, origin, txnID, response, now); err != nil {
			return fmt.Errorf("storage: store transaction: %w", err)
		}
		if _, err := q.ExecContext(ctx, "DELETE FROM received_transactions WHERE received_ts < ?", now-receivedTxnRetention.Milliseconds()); err != nil {
			return fmt.Errorf("storage: prune transactions: %w", err)
		}
		return nil
	})
}
