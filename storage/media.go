package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"hearth.dev/hearth/core"
)

// MediaStore keeps the content repository inside the database: media IDs,
// their content cut in blocks (one blob per distinct sha256), and cached
// thumbnails. It implements core.MediaStore.
//
// An upload is written block by block, each block in a write of its own,
// so memory stays at one block whatever the file's size and the single
// writer is never held while the client is slow to send. The blob becomes
// visible (gets its sha256) in the last write, which also records the media
// ID; an upload that fails leaves nothing, and one cut short by a crash
// leaves an incomplete blob that a later upload deletes.
type MediaStore struct {
	db *DB
	// BlockSize is the block length of new blobs (core.MediaBlockSize
	// unless set; tests lower it to exercise many blocks).
	BlockSize int
}

var _ core.MediaStore = (*MediaStore)(nil)

// NewMediaStore returns the media store of db.
func NewMediaStore(db *DB) *MediaStore {
	return &MediaStore{db: db, BlockSize: core.MediaBlockSize}
}

// incompleteBlobAge is how old (ms) an incomplete blob must be before it is
// taken for the leftover of an interrupted upload.
const incompleteBlobAge = 24 * 60 * 60 * 1000

func (s *MediaStore) blockSize() int {
	if s.BlockSize <= 0 {
		return core.MediaBlockSize
	}
	return s.BlockSize
}

const insertReservedMedia = `INSERT INTO media (media_id, user_id, created_ts, unused_expires_ts)
VALUES (?, ?, ?, ?)`

// CreateMedia reserves an ID; see core.MediaStore.
func (s *MediaStore) CreateMedia(ctx context.Context, m core.Media) error {
	if m.MediaID == "" || m.UserID == "" {
		return invalid("media needs an ID and a user")
	}
	return s.db.Write(ctx, func(q Queryer) error {
		// Reservations that lapsed unused are forgotten here, the one
		// place that makes new ones.
		if _, err := q.ExecContext(ctx,
			"DELETE FROM media WHERE blob_id IS NULL AND unused_expires_ts <= ?", m.CreatedTS); err != nil {
			return fmt.Errorf("storage: drop expired media reservations: %w", err)
		}
		if ok, err := mediaExists(ctx, q, m.MediaID); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("storage: media %s: %w", m.MediaID, core.ErrCannotOverwriteMedia)
		}
		if _, err := q.ExecContext(ctx, insertReservedMedia,
			m.MediaID, m.UserID, m.CreatedTS, m.UnusedExpiresTS); err != nil {
			return fmt.Errorf("storage: create media %s: %w", m.MediaID, err)
		}
		return nil
	})
}

func mediaExists(ctx context.Context, q Queryer, mediaID string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM media WHERE media_id = ?", mediaID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: media %s: %w", mediaID, err)
	}
	return true, nil
}

// PendingMedia counts a user's open reservations; see core.MediaStore.
func (s *MediaStore) PendingMedia(ctx context.Context, userID string, nowTS int64) (int, error) {
	var n int
	err := s.db.Cached().QueryRowContext(ctx,
		"SELECT count(*) FROM media WHERE user_id = ? AND blob_id IS NULL AND unused_expires_ts > ?",
		userID, nowTS).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: pending media of %s: %w", userID, err)
	}
	return n, nil
}

const selectMedia = `SELECT m.user_id, m.content_type, m.upload_name, m.created_ts,
	coalesce(m.unused_expires_ts, 0), m.legacy_download, m.blob_id IS NOT NULL,
	coalesce(b.size, 0), b.sha256
FROM media m LEFT JOIN media_blobs b ON b.blob_id = m.blob_id
WHERE m.media_id = ?`

// Media returns what is recorded about an ID; see core.MediaStore.
func (s *MediaStore) Media(ctx context.Context, mediaID string) (core.Media, error) {
	m := core.Media{MediaID: mediaID}
	var sum []byte
	err := s.db.Cached().QueryRowContext(ctx, selectMedia, mediaID).Scan(
		&m.UserID, &m.ContentType, &m.UploadName, &m.CreatedTS,
		&m.UnusedExpiresTS, &m.LegacyDownload, &m.Uploaded, &m.Size, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Media{}, notFound("media %s", mediaID)
	}
	if err != nil {
		return core.Media{}, fmt.Errorf("storage: media %s: %w", mediaID, err)
	}
	m.SHA256 = hex.EncodeToString(sum)
	return m, nil
}

// checkUploadable refuses an upload that cannot land on up's media ID.
func checkUploadable(ctx context.Context, q Queryer, up core.MediaUpload) error {
	id := up.Media.MediaID
	if !up.Reserved {
		if ok, err := mediaExists(ctx, q, id); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("storage: media %s: %w", id, core.ErrCannotOverwriteMedia)
		}
		return nil
	}
	var (
		owner      string
		hasContent bool
		expires    sql.NullInt64
	)
	err := q.QueryRowContext(ctx,
		"SELECT user_id, blob_id IS NOT NULL, unused_expires_ts FROM media WHERE media_id = ?", id).
		Scan(&owner, &hasContent, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("media %s was not created", id)
	case err != nil:
		return fmt.Errorf("storage: media %s: %w", id, err)
	case owner != up.Media.UserID:
		return fmt.Errorf("storage: media %s was created by another user: %w", id, core.ErrForbidden)
	case hasContent:
		return fmt.Errorf("storage: media %s: %w", id, core.ErrCannotOverwriteMedia)
	case expires.Valid && expires.Int64 <= up.NowTS:
		return notFound("media %s expired unused", id)
	}
	return nil
}

// UploadMedia stores content; see core.MediaStore.
func (s *MediaStore) UploadMedia(ctx context.Context, up core.MediaUpload, r io.Reader) (core.Media, error) {
	m := up.Media
	if m.MediaID == "" || m.UserID == "" {
		return core.Media{}, invalid("media needs an ID and a user")
	}
	if up.MaxSize < 0 {
		return core.Media{}, invalid("negative upload limit")
	}
	// Refuse a doomed upload before reading its bytes; the last write
	// checks again, since another upload may land first.
	if err := checkUploadable(ctx, s.db.Cached(), up); err != nil {
		return core.Media{}, err
	}
	bs := s.blockSize()
	buf := getBlockBuffer(bs)
	defer putBlockBuffer(buf)
	lr := &io.LimitedReader{R: r, N: up.MaxSize + 1}
	h := sha256.New()

	n, eof, err := fillBlock(lr, buf)
	if err != nil {
		return core.Media{}, err
	}
	h.Write(buf[:n])
	size := int64(n)
	if size > up.MaxSize {
		return core.Media{}, tooLarge(up)
	}
	if eof {
		// The whole content fits one block: one write does it all.
		sum := h.Sum(nil)
		err := s.db.Write(ctx, func(q Queryer) error {
			if err := checkUploadable(ctx, q, up); err != nil {
				return err
			}
			blobID, found, err := blobBySHA256(ctx, q, sum)
			if err != nil {
				return err
			}
			if !found {
				if blobID, err = insertBlob(ctx, q, sum, size, bs, up.NowTS); err != nil {
					return err
				}
				if err := insertBlock(ctx, q, blobID, 0, buf[:n]); err != nil {
					return err
				}
			}
			return putMedia(ctx, q, up, blobID)
		})
		if err != nil {
			return core.Media{}, err
		}
		return uploaded(m, size, sum), nil
	}

	// Several blocks: each is its own write, under an incomplete blob.
	var blobID int64
	err = s.db.Write(ctx, func(q Queryer) error {
		if _, err := q.ExecContext(ctx,
			"DELETE FROM media_blobs WHERE sha256 IS NULL AND created_ts < ?",
			up.NowTS-incompleteBlobAge); err != nil {
			return fmt.Errorf("storage: drop interrupted uploads: %w", err)
		}
		var err error
		if blobID, err = insertBlob(ctx, q, nil, 0, bs, up.NowTS); err != nil {
			return err
		}
		return insertBlock(ctx, q, blobID, 0, buf[:n])
	})
	if err != nil {
		return core.Media{}, err
	}
	abort := func(err error) (core.Media, error) {
		// Best effort: a blob left here is dropped by a later upload.
		_ = s.db.Write(context.WithoutCancel(ctx), func(q Queryer) error {
			_, err := q.ExecContext(ctx,
				"DELETE FROM media_blobs WHERE blob_id = ? AND sha256 IS NULL", blobID)
			return err
		})
		return core.Media{}, err
	}
	for seq := int64(1); !eof; seq++ {
		n, eof, err = fillBlock(lr, buf)
		if err != nil {
			return abort(err)
		}
		h.Write(buf[:n])
		size += int64(n)
		if size > up.MaxSize {
			return abort(tooLarge(up))
		}
		if n == 0 {
			break
		}
		block := buf[:n]
		if err := s.db.Write(ctx, func(q Queryer) error {
			return insertBlock(ctx, q, blobID, seq, block)
		}); err != nil {
			return abort(err)
		}
	}
	sum := h.Sum(nil)
	err = s.db.Write(ctx, func(q Queryer) error {
		if err := checkUploadable(ctx, q, up); err != nil {
			return err
		}
		target, found, err := blobBySHA256(ctx, q, sum)
		if err != nil {
			return err
		}
		if found {
			// The same content is already stored: keep that copy.
			if _, err := q.ExecContext(ctx, "DELETE FROM media_blobs WHERE blob_id = ?", blobID); err != nil {
				return fmt.Errorf("storage: drop duplicate blob: %w", err)
			}
		} else {
			target = blobID
			if _, err := q.ExecContext(ctx,
				"UPDATE media_blobs SET sha256 = ?, size = ? WHERE blob_id = ?", sum, size, blobID); err != nil {
				return fmt.Errorf("storage: complete blob: %w", err)
			}
		}
		return putMedia(ctx, q, up, target)
	})
	if err != nil {
		return abort(err)
	}
	return uploaded(m, size, sum), nil
}

func tooLarge(up core.MediaUpload) error {
	return core.ErrTooLarge.WithMessage("Cannot upload files larger than %d bytes", up.MaxSize)
}

func uploaded(m core.Media, size int64, sum []byte) core.Media {
	m.Size, m.SHA256, m.Uploaded, m.UnusedExpiresTS = size, hex.EncodeToString(sum), true, 0
	return m
}

// fillBlock reads until buf is full or r ends; eof reports the end.
// blockBuffers keeps upload buffers of core.MediaBlockSize for the next
// upload: most uploads are far smaller than a block, and a new 256 KiB
// buffer each was the most garbage an upload made.
var blockBuffers = sync.Pool{New: func() any { b := make([]byte, core.MediaBlockSize); return &b }}

func getBlockBuffer(size int) []byte {
	if size != core.MediaBlockSize {
		return make([]byte, size)
	}
	return *blockBuffers.Get().(*[]byte)
}

// putBlockBuffer gives buf back once nothing refers to it (SQLite copied
// the blocks written from it).
func putBlockBuffer(buf []byte) {
	if cap(buf) == core.MediaBlockSize {
		buf = buf[:core.MediaBlockSize]
		blockBuffers.Put(&buf)
	}
}

func fillBlock(r io.Reader, buf []byte) (n int, eof bool, err error) {
	n, err = io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, true, nil
	}
	return n, false, err
}

func blobBySHA256(ctx context.Context, q Queryer, sum []byte) (int64, bool, error) {
	var id int64
	err := q.QueryRowContext(ctx, "SELECT blob_id FROM media_blobs WHERE sha256 = ?", sum).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storage: find blob: %w", err)
	}
	return id, true, nil
}

func insertBlob(ctx context.Context, q Queryer, sum []byte, size int64, blockSize int, nowTS int64) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx,
		"INSERT INTO media_blobs (sha256, size, block_size, created_ts) VALUES (?, ?, ?, ?) RETURNING blob_id",
		sum, size, blockSize, nowTS).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: insert blob: %w", err)
	}
	return id, nil
}

func insertBlock(ctx context.Context, q Queryer, blobID, seq int64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx,
		"INSERT INTO media_blocks (blob_id, seq, data) VALUES (?, ?, ?)", blobID, seq, data); err != nil {
		return fmt.Errorf("storage: insert media block: %w", err)
	}
	return nil
}

const (
	insertUploadedMedia = `INSERT INTO media
	(media_id, user_id, content_type, upload_name, created_ts, blob_id, legacy_download)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	completeReservedMedia = `UPDATE media SET content_type = ?, upload_name = ?, blob_id = ?,
	legacy_download = ?, unused_expires_ts = NULL
WHERE media_id = ? AND blob_id IS NULL`
)

// putMedia records up's media ID with its content in blobID.
func putMedia(ctx context.Context, q Queryer, up core.MediaUpload, blobID int64) error {
	m := up.Media
	var err error
	if up.Reserved {
		_, err = q.ExecContext(ctx, completeReservedMedia,
			m.ContentType, m.UploadName, blobID, m.LegacyDownload, m.MediaID)
	} else {
		_, err = q.ExecContext(ctx, insertUploadedMedia,
			m.MediaID, m.UserID, m.ContentType, m.UploadName, m.CreatedTS, blobID, m.LegacyDownload)
	}
	if err != nil {
		return fmt.Errorf("storage: record media %s: %w", m.MediaID, err)
	}
	return nil
}

const selectMediaBlob = `SELECT b.blob_id, b.size, b.block_size
FROM media m JOIN media_blobs b ON b.blob_id = m.blob_id
WHERE m.media_id = ?`

// ReadMediaAt reads content; see core.MediaStore.
func (s *MediaStore) ReadMediaAt(ctx context.Context, mediaID string, p []byte, off int64) (int, error) {
	var blobID, size, bs int64
	err := s.db.Cached().QueryRowContext(ctx, selectMediaBlob, mediaID).Scan(&blobID, &size, &bs)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("content of media %s", mediaID)
	}
	if err != nil {
		return 0, fmt.Errorf("storage: media %s: %w", mediaID, err)
	}
	if off < 0 {
		return 0, invalid("negative offset %d", off)
	}
	if off >= size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), size)
	rows, err := s.db.Cached().QueryContext(ctx,
		"SELECT seq, data FROM media_blocks WHERE blob_id = ? AND seq BETWEEN ? AND ? ORDER BY seq",
		blobID, off/bs, (end-1)/bs)
	if err != nil {
		return 0, fmt.Errorf("storage: read media %s: %w", mediaID, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			seq  int64
			data sql.RawBytes
		)
		if err := rows.Scan(&seq, &data); err != nil {
			return n, fmt.Errorf("storage: read media %s: %w", mediaID, err)
		}
		pos := off + int64(n) // the next byte wanted
		start := seq * bs     // the block's first byte
		if pos < start || pos >= start+int64(len(data)) {
			return n, fmt.Errorf("storage: media %s: block %d is missing or short", mediaID, pos/bs)
		}
		n += copy(p[n:end-off], data[pos-start:])
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("storage: read media %s: %w", mediaID, err)
	}
	if int64(n) != end-off {
		return n, fmt.Errorf("storage: media %s: blocks end at %d of %d bytes", mediaID, off+int64(n), size)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

const selectThumbnail = `SELECT t.content_type, t.thumb_width, t.thumb_height, t.original, t.data
FROM media m JOIN media_thumbnails t ON t.blob_id = m.blob_id
WHERE m.media_id = ? AND t.width = ? AND t.height = ? AND t.method = ? AND t.animated = ?`

// Thumbnail returns a cached thumbnail; see core.MediaStore.
func (s *MediaStore) Thumbnail(ctx context.Context, mediaID string, key core.ThumbnailKey) (core.Thumbnail, error) {
	t := core.Thumbnail{Key: key}
	err := s.db.Cached().QueryRowContext(ctx, selectThumbnail, mediaID, key.Width, key.Height, key.Method, key.Animated).
		Scan(&t.ContentType, &t.Width, &t.Height, &t.Original, &t.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Thumbnail{}, notFound("thumbnail %dx%d %s of media %s", key.Width, key.Height, key.Method, mediaID)
	}
	if err != nil {
		return core.Thumbnail{}, fmt.Errorf("storage: thumbnail of media %s: %w", mediaID, err)
	}
	if t.Original {
		t.Data = nil
	}
	return t, nil
}

const upsertThumbnail = `INSERT OR REPLACE INTO media_thumbnails
	(blob_id, width, height, method, animated, content_type, thumb_width, thumb_height, original, data, created_ts)
SELECT blob_id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM media WHERE media_id = ? AND blob_id IS NOT NULL`

// StoreThumbnail caches a thumbnail; see core.MediaStore.
func (s *MediaStore) StoreThumbnail(ctx context.Context, mediaID string, t core.Thumbnail) error {
	data := t.Data
	if t.Original || data == nil {
		data = []byte{}
	}
	return s.db.Write(ctx, func(q Queryer) error {
		res, err := q.ExecContext(ctx, upsertThumbnail,
			t.Key.Width, t.Key.Height, t.Key.Method, t.Key.Animated, t.ContentType, t.Width, t.Height, t.Original, data,
			time.Now().UnixMilli(), mediaID)
		if err != nil {
			return fmt.Errorf("storage: store thumbnail of media %s: %w", mediaID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("storage: store thumbnail of media %s: %w", mediaID, err)
		} else if n == 0 {
			return notFound("content of media %s", mediaID)
		}
		return nil
	})
}
