package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RemoteMediaCacheStore keeps media of other servers fetched over
// federation (table remote_media_cache), evicting the least recently used
// to stay under a size cap.
type RemoteMediaCacheStore struct{ db *DB }

// NewRemoteMediaCacheStore returns the remote media cache of db.
func NewRemoteMediaCacheStore(db *DB) *RemoteMediaCacheStore { return &RemoteMediaCacheStore{db: db} }

// RemoteMedia is one cached media item (or thumbnail: Variant non-empty).
type RemoteMedia struct {
	Server, MediaID, Variant string
	ContentType, Disposition string
	Content                  []byte
}

// nextAccessSQL is the access time of a use now: the clock, or one more
// than the newest use when the clock has not moved on (several uses in a
// millisecond), so the order of uses is always the order of access times.
const nextAccessSQL = "MAX(?, COALESCE((SELECT MAX(last_access_ts) FROM remote_media_cache), 0) + 1)"

const getRemoteMediaSQL = `SELECT content_type, content_disposition, content FROM remote_media_cache
WHERE server_name = ? AND media_id = ? AND variant = ?`

// Get returns the cached item and marks it used; ok is false when it is
// not cached.
func (s *RemoteMediaCacheStore) Get(ctx context.Context, server, mediaID, variant string) (m RemoteMedia, ok bool, err error) {
	m = RemoteMedia{Server: server, MediaID: mediaID, Variant: variant}
	err = s.db.reader.QueryRowContext(ctx, getRemoteMediaSQL, server, mediaID, variant).Scan(&m.ContentType, &m.Disposition, &m.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("storage: read remote media: %w", err)
	}
	err = s.db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "UPDATE remote_media_cache SET last_access_ts = "+nextAccessSQL+" WHERE server_name = ? AND media_id = ? AND variant = ?",
			time.Now().UnixMilli(), server, mediaID, variant)
		return err
	})
	if err != nil {
		return m, false, fmt.Errorf("storage: touch remote media: %w", err)
	}
	return m, true, nil
}

const evictRemoteMediaSQL = `DELETE FROM remote_media_cache WHERE rowid IN (
  SELECT rowid FROM (
    SELECT rowid, SUM(size) OVER (ORDER BY last_access_ts DESC, rowid DESC) AS running FROM remote_media_cache
  ) WHERE running > ?
)`

// Put stores m and, in the same write, evicts the least recently used
// items until the cache holds at most maxBytes. An item larger than
// maxBytes is not stored.
func (s *RemoteMediaCacheStore) Put(ctx context.Context, m RemoteMedia, maxBytes int64) error {
	if int64(len(m.Content)) > maxBytes {
		return nil
	}
	return s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO remote_media_cache
(server_name, media_id, variant, content_type, content_disposition, content, size, last_access_ts) VALUES (?, ?, ?, ?, ?, ?, ?, `+nextAccessSQL+`)
ON CONFLICT (server_name, media_id, variant) DO UPDATE SET content_type = excluded.content_type,
content_disposition = excluded.content_disposition, content = excluded.content, size = excluded.size, last_access_ts = excluded.last_access_ts`,
			m.Server, m.MediaID, m.Variant, m.ContentType, m.Disposition, m.Content, len(m.Content), time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("storage: store remote media: %w", err)
		}
		if _, err := q.ExecContext(ctx, evictRemoteMediaSQL, maxBytes); err != nil {
			return fmt.Errorf("storage: evict remote media: %w", err)
		}
		return nil
	})
}

// Size returns the number of cached items and the sum of their sizes.
func (s *RemoteMediaCacheStore) Size(ctx context.Context) (items, bytes int64, err error) {
	err = s.db.reader.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM remote_media_cache").Scan(&items, &bytes)
	return items, bytes, err
}
