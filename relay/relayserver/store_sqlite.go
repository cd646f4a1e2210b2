package relayserver

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3/driver"
)

// relaySchema is the relay's own database (relay.db in its data folder);
// user_version says which version it is.
const relaySchema = `
CREATE TABLE IF NOT EXISTS relay_nodes (
	name        TEXT PRIMARY KEY,
	key_id      TEXT NOT NULL DEFAULT '',
	public_key  BLOB,
	enrolled_ts INTEGER NOT NULL DEFAULT 0,
	server_keys BLOB
) STRICT;
CREATE TABLE IF NOT EXISTS relay_tokens (
	token_hash BLOB PRIMARY KEY,
	name       TEXT NOT NULL REFERENCES relay_nodes(name) ON DELETE CASCADE,
	expires_ts INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS relay_queue (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	name   TEXT NOT NULL REFERENCES relay_nodes(name) ON DELETE CASCADE,
	method TEXT NOT NULL,
	target TEXT NOT NULL,
	header TEXT NOT NULL,
	body   BLOB NOT NULL,
	size   INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS relay_queue_name ON relay_queue(name, seq);
PRAGMA user_version = 1;
`

// SQLite is the Store of a single relay instance: one SQLite file.
type SQLite struct{ db *sql.DB }

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) DIR/relay.db.
func OpenSQLite(ctx context.Context, dir string) (*SQLite, error) {
	path := filepath.Join(dir, "relay.db")
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(wal)", "synchronous(normal)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
	db, err := driver.Open(dsn)
	if err != nil {
		return nil, err
	}
	// One connection: the relay's statements are small, and a thousand
	// nodes connecting at once then queue in Go instead of contending for
	// SQLite's write lock.
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v > 1 {
		db.Close()
		return nil, fmt.Errorf("%s: relay database version %d is newer than this hearth's (1)", path, v)
	}
	if _, err := db.ExecContext(ctx, relaySchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: creating the relay schema: %w", path, err)
	}
	return &SQLite{db: db}, nil
}

func (s *SQLite) Close() error { return s.db.Close() }

const insertNode = `INSERT INTO relay_nodes (name) VALUES (?) ON CONFLICT (name) DO NOTHING`
const insertToken = `INSERT INTO relay_tokens (token_hash, name, expires_ts) VALUES (?, ?, ?)`

func (s *SQLite) AddNode(ctx context.Context, name string, tokenHash []byte, expires time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, insertNode, name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insertToken, tokenHash, name, expires.UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

const selectNodes = `
SELECT n.name, n.key_id, n.public_key, n.enrolled_ts, n.server_keys,
	(SELECT count(*) FROM relay_queue q WHERE q.name = n.name),
	(SELECT coalesce(sum(size), 0) FROM relay_queue q WHERE q.name = n.name)
FROM relay_nodes n`

func scanNode(sc interface{ Scan(...any) error }) (Node, error) {
	var n Node
	var ts int64
	err := sc.Scan(&n.Name, &n.KeyID, &n.PublicKey, &ts, &n.ServerKeys, &n.Queued, &n.QueueBytes)
	if ts > 0 {
		n.Enrolled = time.UnixMilli(ts)
	}
	return n, err
}

func (s *SQLite) Node(ctx context.Context, name string) (Node, error) {
	n, err := scanNode(s.db.QueryRowContext(ctx, selectNodes+` WHERE n.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Node{}, ErrNoNode
	}
	return n, err
}

func (s *SQLite) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := s.db.QueryContext(ctx, selectNodes+` ORDER BY n.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (s *SQLite) RemoveNode(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM relay_nodes WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoNode
	}
	return nil
}

const selectToken = `SELECT name, expires_ts FROM relay_tokens WHERE token_hash = ?`

func (s *SQLite) Enroll(ctx context.Context, name string, tokenHash []byte, keyID string, pub []byte, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var owner string
	var expires int64
	err = tx.QueryRowContext(ctx, selectToken, tokenHash).Scan(&owner, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrBadToken
	}
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(owner), []byte(name)) != 1 || now.UnixMilli() >= expires {
		return ErrBadToken
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM relay_tokens WHERE token_hash = ?`, tokenHash); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE relay_nodes SET key_id = ?, public_key = ?, enrolled_ts = ?, server_keys = NULL WHERE name = ?`,
		keyID, pub, now.UnixMilli(), name); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLite) SetServerKeys(ctx context.Context, name string, body []byte) error {
	_, err := s.db.ExecContext(ctx, `UPDATE relay_nodes SET server_keys = ? WHERE name = ?`, body, name)
	return err
}

const insertQueued = `INSERT INTO relay_queue (name, method, target, header, body, size) VALUES (?, ?, ?, ?, ?, ?)`

func (s *SQLite) Enqueue(ctx context.Context, name string, st *Stored, quota int64) (int64, error) {
	header, err := json.Marshal(st.Header)
	if err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var used int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(size), 0) FROM relay_queue WHERE name = ?`, name).Scan(&used); err != nil {
		return 0, err
	}
	if used+st.Size() > quota {
		return 0, ErrQuota
	}
	res, err := tx.ExecContext(ctx, insertQueued, name, st.Method, st.Target, string(header), st.Body, st.Size())
	if err != nil {
		return 0, err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return seq, tx.Commit()
}

func (s *SQLite) Next(ctx context.Context, name string) (*Stored, error) {
	var st Stored
	var header string
	err := s.db.QueryRowContext(ctx, `SELECT seq, method, target, header, body FROM relay_queue WHERE name = ? ORDER BY seq LIMIT 1`, name).
		Scan(&st.Seq, &st.Method, &st.Target, &header, &st.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(header), &st.Header); err != nil {
		return nil, fmt.Errorf("relay queue %d: header: %w", st.Seq, err)
	}
	return &st, nil
}

func (s *SQLite) Dequeue(ctx context.Context, name string, seq int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM relay_queue WHERE name = ? AND seq = ?`, name, seq)
	return err
}
