// Package walgather sees the writes SQLite makes to a write-ahead log and
// decides when they are written out: a transaction's frames are held and
// reach the file in one write once its commit frame is complete, instead
// of two writes per page (SQLite writes each frame as its 24-byte header,
// then its page). The native VFS (storage) and the tab's OPFS VFS
// (wasm/opfs) both wrap their WAL files' writes in a Log; it builds for
// both targets and knows nothing of either file.
//
// The frames are in the file before the write of the commit frame's page
// returns, and SQLite makes a commit visible to other connections (in the
// wal-index) only after that: readers never miss a committed frame, and a
// commit that returned is in the file as it was with one write per call.
// The file's owner writes out what is held (WriteOut or Flush) before
// anything else it does to the WAL (a read, its size, truncate, sync,
// lock, close), so the file sees the same bytes in the same order.
package walgather

import (
	"encoding/binary"
	"io"
)

// The WAL file format (https://sqlite.org/fileformat.html#walformat): a
// 32-byte header, then frames of a 24-byte header and a page; the second
// word of a frame header is the database size after a commit, non-zero
// only in a transaction's last frame.
const (
	HeaderSize      = 32
	FrameHeaderSize = 24
)

// MaxHeld bounds the bytes held: a transaction larger than the page cache
// spills frames to the WAL long before it commits.
const MaxHeld = 1 << 20

// Log holds the writes to one WAL file. It does no locking: its owner
// calls it with the file's own lock held.
type Log struct {
	out     io.WriterAt
	held    []byte // writes held, from heldOff on
	heldOff int64
	// commitNext is set when the last write was a commit frame's header:
	// the write that follows (its page) ends the transaction.
	commitNext bool
	// failed is the error of held writes that could not be written out.
	// SQLite took them for done, so every later write (and Flush) fails
	// with it: no commit may land behind a gap. Reopening the database
	// recovers the WAL up to its last whole commit.
	failed error
}

// New returns a Log whose writes out go to out.
func New(out io.WriterAt) *Log {
	return &Log{out: out}
}

// WriteAt takes SQLite's write of b at off: it is held, and what is held
// is written out when b is a commit frame's page, when b does not follow
// on from what is held (written out first), or past MaxHeld.
func (l *Log) WriteAt(b []byte, off int64) error {
	if l.failed != nil {
		return l.failed
	}
	if len(l.held) > 0 && off != l.heldOff+int64(len(l.held)) {
		if err := l.WriteOut(); err != nil {
			return err
		}
	}
	if len(l.held) == 0 {
		l.heldOff = off
	}
	l.held = append(l.held, b...)
	commit := l.commitNext
	l.commitNext = len(b) == FrameHeaderSize && off >= HeaderSize && binary.BigEndian.Uint32(b[4:8]) != 0
	if commit || len(l.held) >= MaxHeld {
		return l.WriteOut()
	}
	return nil
}

// WriteOut writes out what is held, in one write; with nothing held it
// does nothing.
func (l *Log) WriteOut() error {
	if len(l.held) == 0 {
		return nil
	}
	if l.failed != nil {
		return l.failed
	}
	_, err := l.out.WriteAt(l.held, l.heldOff)
	l.held = l.held[:0]
	l.commitNext = false
	if cap(l.held) > MaxHeld {
		l.held = nil
	}
	if err != nil {
		l.failed = err
	}
	return err
}

// Flush is WriteOut, except that once a write-out failed it fails with
// that error even with nothing held.
func (l *Log) Flush() error {
	if l.failed != nil {
		return l.failed
	}
	return l.WriteOut()
}

// Held is the number of bytes held.
func (l *Log) Held() int { return len(l.held) }
