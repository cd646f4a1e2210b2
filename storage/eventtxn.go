package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"

	"hearth.dev/hearth/core"
)

// Client transaction IDs (event_txn_id): a retried PUT /send returns the
// event the first try sent, and the sending device sees
// unsigned.transaction_id on its events. A row holds the device and
// transaction IDs once; the user is the event's sender and the room the
// event's room, so neither is stored again. Uniqueness is checked in the
// event's own write against txn_key, a 64-bit hash of user, device,
// transaction and room, which is all the lookup index holds (an index of
// the four texts cost more than the row).
//
// As in Synapse, which keeps these rows for 24 hours, a transaction is
// remembered for txnRetention: later the same ID sends a new event, and
// the event no longer carries unsigned.transaction_id (clients need it to
// match their local echo, right after sending).

// txnRetention is how long a transaction ID is kept.
const txnRetention int64 = 24 * 60 * 60 * 1000 // ms

// txnPrunePeriod: every this many stored transactions (by event_nid), the
// write also drops up to 512 of the oldest rows past txnRetention. A
// variable so tests can prune on every write.
var txnPrunePeriod int64 = 128

// txnKey hashes what makes a transaction ID unique.
func txnKey(userID, deviceID, txnID, roomID string) int64 {
	h := fnv.New64a()
	for _, s := range []string{userID, deviceID, txnID, roomID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

const (
	// sqlTxnInsert records transaction ?5 of user ?6's device ?4 in room
	// ?2 (a room_nid) for the new event ?1, unless that transaction is
	// recorded already (then it inserts nothing): the check and the insert
	// are one statement, as sends are the server's commonest write.
	sqlTxnInsert = `INSERT INTO event_txn_id (event_nid, room_nid, txn_key, device_id, txn_id)
		SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (
			SELECT 1 FROM event_txn_id t JOIN events e ON e.event_nid = t.event_nid
			WHERE t.txn_key = ?3 AND t.device_id = ?4 AND t.txn_id = ?5 AND e.sender = ?6 AND t.room_nid = ?2)`
	// sqlTxnPrune drops those of the 512 oldest rows whose event was
	// received before ?: the event's received_ts is when the transaction
	// was stored (delta 2/77 dropped the row's copy of it).
	sqlTxnPrune = `DELETE FROM event_txn_id WHERE event_nid IN (
		SELECT t.event_nid FROM (SELECT event_nid FROM event_txn_id ORDER BY event_nid LIMIT 512) t
		JOIN events e ON e.event_nid = t.event_nid WHERE e.received_ts < ?)`
	// sqlTxnOldest reads when the event of the oldest row was received
	// (the row this write stored is there, so there is one). It only
	// decides whether the prune can be left out; the prune itself looks
	// at the 512 oldest rows, so a row stored while the clock was ahead
	// never holds back the due rows behind it.
	sqlTxnOldest = `SELECT e.received_ts FROM event_txn_id t JOIN events e ON e.event_nid = t.event_nid
		ORDER BY t.event_nid LIMIT 1`
	sqlEventIDForTxn = `
		SELECT e.event_id FROM event_txn_id t
		JOIN rooms r ON r.room_nid = t.room_nid
		JOIN events e ON e.event_nid = t.event_nid
		WHERE t.txn_key = ?1 AND t.device_id = ?2 AND t.txn_id = ?3 AND e.sender = ?4 AND r.room_id = ?5`
)

// storeTxn records the transaction of a new event, in its write, and now
// and then drops rows past their retention. It returns core.ErrTxnUsed
// when the device used the ID in the room before.
func (p *persister) storeTxn(ev *core.NewEvent, nid, room, received int64) error {
	txn := ev.Txn
	key := txnKey(txn.UserID, txn.DeviceID, txn.TxnID, ev.RoomID)
	res, err := p.q.ExecContext(p.ctx, sqlTxnInsert, nid, room, key, txn.DeviceID, txn.TxnID, txn.UserID)
	if err != nil {
		return fmt.Errorf("storage: transaction %s of %s: %w", txn.TxnID, ev.EventID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("storage: transaction %s of %s: %w", txn.TxnID, ev.EventID, err)
	} else if n == 0 {
		return fmt.Errorf("storage: transaction %s of %s: %w", txn.TxnID, ev.EventID, core.ErrTxnUsed)
	}
	if nid%txnPrunePeriod == 0 {
		// The prune joins 512 rows to their events; the oldest row alone
		// tells whether any is due, and within the first day of a
		// database, or of a busy hour, none is.
		var oldest int64
		if err := p.q.QueryRowContext(p.ctx, sqlTxnOldest).Scan(&oldest); err != nil {
			return fmt.Errorf("storage: prune transactions: %w", err)
		}
		// An oldest row from the future (stored while the clock was
		// ahead) says nothing about the rows after it: prune then.
		if oldest >= received-txnRetention && oldest <= received {
			return nil
		}
		if _, err := p.q.ExecContext(p.ctx, sqlTxnPrune, received-txnRetention); err != nil {
			return fmt.Errorf("storage: prune transactions: %w", err)
		}
	}
	return nil
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

// EventIDForTxn returns the event a client transaction sent; see
// core.EventStore.
func (s *EventStore) EventIDForTxn(ctx context.Context, roomID string, txn core.TxnID) (string, error) {
	var eventID string
	err := s.read(ctx, []string{sqlEventIDForTxn}, func(r reader) error {
		return r.queryRow(sqlEventIDForTxn, txnKey(txn.UserID, txn.DeviceID, txn.TxnID, roomID),
			txn.DeviceID, txn.TxnID, txn.UserID, roomID).Scan(&eventID)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("transaction %s of %s/%s in %s", txn.TxnID, txn.UserID, txn.DeviceID, roomID)
	}
	if err != nil {
		return "", fmt.Errorf("storage: transaction %s: %w", txn.TxnID, err)
	}
	return eventID, nil
}

func init() {
	RegisterGoDelta("main/delta/2/61event_txn_id_key", migrateTxnKey)
}

// migrateTxnKey rebuilds event_txn_id without user_id, whose four-text
// unique index gives way to one on txn_key.
func migrateTxnKey(ctx context.Context, q Queryer) error {
	if _, err := q.ExecContext(ctx, `
		CREATE TABLE event_txn_id_new (
			event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid) ON DELETE CASCADE,
			room_nid INTEGER NOT NULL,
			txn_key INTEGER NOT NULL,
			device_id TEXT NOT NULL,
			txn_id TEXT NOT NULL,
			inserted_ts INTEGER NOT NULL
		)`); err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, `
		SELECT t.event_nid, t.room_nid, t.user_id, t.device_id, t.txn_id, t.inserted_ts, r.room_id
		FROM event_txn_id t JOIN rooms r ON r.room_nid = t.room_nid`)
	if err != nil {
		return err
	}
	type row struct {
		nid, room, ts          int64
		user, dev, txn, roomID string
	}
	var all []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.nid, &x.room, &x.user, &x.dev, &x.txn, &x.ts, &x.roomID); err != nil {
			rows.Close()
			return err
		}
		all = append(all, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range all {
		if _, err := q.ExecContext(ctx, `INSERT INTO event_txn_id_new (event_nid, room_nid, txn_key, device_id, txn_id, inserted_ts)
			VALUES (?, ?, ?, ?, ?, ?)`, x.nid, x.room, txnKey(x.user, x.dev, x.txn, x.roomID), x.dev, x.txn, x.ts); err != nil {
			return err
		}
	}
	_, err = q.ExecContext(ctx, `
		DROP TABLE event_txn_id;
		ALTER TABLE event_txn_id_new RENAME TO event_txn_id;
		CREATE INDEX event_txn_id_key ON event_txn_id (txn_key);`)
	return err
}
