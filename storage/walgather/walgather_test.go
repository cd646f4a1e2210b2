package walgather

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// file is an io.WriterAt over a byte slice that keeps every write.
type file struct {
	b      []byte
	writes int
	fail   error
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	f.writes++
	if end := int(off) + len(p); end > len(f.b) {
		f.b = append(f.b, make([]byte, end-len(f.b))...)
	}
	copy(f.b[off:], p)
	return len(p), nil
}

// wal drives a Log as SQLite drives a WAL and keeps a model of the bytes
// written, to compare the file with.
type wal struct {
	t     *testing.T
	page  int
	f     *file
	l     *Log
	model []byte
}

func newWAL(t *testing.T, page int) *wal {
	f := &file{}
	return &wal{t: t, page: page, f: f, l: New(f)}
}

func (w *wal) write(off int, p []byte) {
	w.t.Helper()
	if err := w.l.WriteAt(p, int64(off)); err != nil {
		w.t.Fatalf("WriteAt(%d bytes at %d): %v", len(p), off, err)
	}
	if end := off + len(p); end > len(w.model) {
		w.model = append(w.model, make([]byte, end-len(w.model))...)
	}
	copy(w.model[off:], p)
}

func (w *wal) frameOff(i int) int { return HeaderSize + i*(FrameHeaderSize+w.page) }

// frame writes frame i (0-based) as SQLite does: its header, then its
// page; dbSize is non-zero in a commit frame.
func (w *wal) frame(i int, dbSize uint32, seed byte) {
	w.t.Helper()
	h := make([]byte, FrameHeaderSize)
	binary.BigEndian.PutUint32(h[0:], uint32(i+1))
	binary.BigEndian.PutUint32(h[4:], dbSize)
	w.write(w.frameOff(i), h)
	w.write(w.frameOff(i)+FrameHeaderSize, pattern(w.page, seed))
}

// written says whether the file holds every byte written so far.
func (w *wal) written() bool { return bytes.Equal(w.f.b, w.model) }

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// TestWritesOutAtCommit checks when a Log writes out: not while a
// transaction's frames follow on, once when its commit frame's page is
// written (before WriteAt returns), first when a write does not follow
// on, and past MaxHeld; each write-out carries every byte held.
func TestWritesOutAtCommit(t *testing.T) {
	const page = 4096
	w := newWAL(t, page)
	w.write(0, pattern(HeaderSize, 1))
	for i := range 5 {
		w.frame(i, 0, byte(10+i))
		if w.f.writes != 0 {
			t.Fatalf("frame %d of an open transaction: %d writes reached the file, want none", i, w.f.writes)
		}
	}
	if want := HeaderSize + 5*(FrameHeaderSize+page); w.l.Held() != want {
		t.Errorf("Held() = %d, want %d", w.l.Held(), want)
	}
	// The commit frame's header alone does not write out: its page ends
	// the transaction.
	h := make([]byte, FrameHeaderSize)
	binary.BigEndian.PutUint32(h[0:], 6)
	binary.BigEndian.PutUint32(h[4:], 6)
	w.write(w.frameOff(5), h)
	if w.f.writes != 0 {
		t.Fatalf("a commit frame's header wrote out before its page")
	}
	w.write(w.frameOff(5)+FrameHeaderSize, pattern(page, 15))
	if w.f.writes != 1 || !w.written() || w.l.Held() != 0 {
		t.Fatalf("after the commit frame's page: %d writes, file whole %v, %d bytes held; want 1, true, 0",
			w.f.writes, w.written(), w.l.Held())
	}

	// A page rewritten in place does not follow on: what is held goes
	// first, so the file sees the bytes in order.
	w.frame(6, 0, 20)
	w.write(w.frameOff(6)+FrameHeaderSize, pattern(page, 21))
	if w.f.writes != 2 {
		t.Errorf("a write that does not follow on: %d writes, want 2", w.f.writes)
	}
	w.frame(7, 8, 22)
	if w.f.writes != 3 || !w.written() {
		t.Errorf("commit after a rewrite: %d writes, file whole %v; want 3, true", w.f.writes, w.written())
	}

	// A frame whose header's second word is zero ends no transaction.
	w.frame(8, 0, 30)
	if w.f.writes != 3 {
		t.Errorf("an ordinary frame wrote out: %d writes, want 3", w.f.writes)
	}
	if err := w.l.WriteOut(); err != nil || w.f.writes != 4 || !w.written() {
		t.Errorf("WriteOut = %v: %d writes, file whole %v; want 4, true", err, w.f.writes, w.written())
	}
	if err := w.l.WriteOut(); err != nil || w.f.writes != 4 {
		t.Errorf("WriteOut with nothing held = %v, %d writes; want no write", err, w.f.writes)
	}

	// A transaction larger than MaxHeld is written out as it grows.
	big := newWAL(t, 64<<10)
	big.write(0, pattern(HeaderSize, 1))
	n := MaxHeld/(FrameHeaderSize+big.page) + 1
	for i := range n {
		big.frame(i, 0, byte(i))
	}
	if big.f.writes != 1 || big.l.Held() >= MaxHeld {
		t.Errorf("%d frames of %d bytes: %d writes, %d held; want 1 write at MaxHeld", n, big.page, big.f.writes, big.l.Held())
	}
	big.frame(n, uint32(n+1), 99)
	if big.f.writes != 2 || !big.written() {
		t.Errorf("commit of a large transaction: %d writes, file whole %v; want 2, true", big.f.writes, big.written())
	}
}

// TestLosesNoFrame drives a Log with transactions of random sizes,
// rewritten pages and rolled-back frames written over: after every commit
// the file holds every byte written, reached in one write when the
// transaction's frames followed on, and nothing is written out before.
func TestLosesNoFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 5))
	w := newWAL(t, 1024)
	w.write(0, pattern(HeaderSize, 1))
	next := 0 // the next frame's index
	rolledBack := false
	for tx := range 200 {
		writes := w.f.writes
		frames := 1 + r.IntN(12)
		// After a rollback, the first frame does not follow on from the
		// frames held: those are written out first.
		inOrder := !rolledBack
		rolledBack = false
		for j := range frames - 1 {
			w.frame(next, 0, byte(tx+j))
			if r.IntN(10) == 0 {
				// A page of this transaction written again in place.
				w.write(w.frameOff(next)+FrameHeaderSize, pattern(w.page, byte(tx*3+j)))
				inOrder = false
			}
			next++
		}
		if inOrder && w.f.writes != writes {
			t.Fatalf("transaction %d: written out before its commit frame", tx)
		}
		w.frame(next, uint32(next+1), byte(tx))
		next++
		if !w.written() || w.l.Held() != 0 {
			t.Fatalf("transaction %d of %d frames: the file misses bytes written (%d held)", tx, frames, w.l.Held())
		}
		if inOrder && w.f.writes != writes+1 {
			t.Fatalf("transaction %d of %d frames in order: %d writes, want 1", tx, frames, w.f.writes-writes)
		}
		switch r.IntN(8) {
		case 0:
			// A rolled-back transaction: its frames are written over by
			// the next one.
			for j := range 1 + r.IntN(3) {
				w.frame(next+j, 0, byte(200+j))
			}
			rolledBack = true
		case 1:
			// SQLite starts the log again from its beginning.
			w.write(0, pattern(HeaderSize, byte(tx)))
			next = 0
		}
	}
}

// TestFailureSticks checks that once held writes could not be written
// out, every later write and Flush fails with that error, and that
// WriteOut with nothing held does not.
func TestFailureSticks(t *testing.T) {
	w := newWAL(t, 512)
	w.write(0, pattern(HeaderSize, 1))
	w.frame(0, 0, 1)
	boom := errors.New("disk full")
	w.f.fail = boom
	h := make([]byte, FrameHeaderSize)
	binary.BigEndian.PutUint32(h[0:], 2)
	binary.BigEndian.PutUint32(h[4:], 2)
	if err := w.l.WriteAt(h, int64(w.frameOff(1))); err != nil {
		t.Fatalf("a held write failed early: %v", err)
	}
	if err := w.l.WriteAt(pattern(w.page, 2), int64(w.frameOff(1)+FrameHeaderSize)); !errors.Is(err, boom) {
		t.Errorf("commit write-out = %v, want %v", err, boom)
	}
	w.f.fail = nil
	if err := w.l.WriteAt(h, 0); !errors.Is(err, boom) {
		t.Errorf("write after a failed write-out = %v, want %v", err, boom)
	}
	if err := w.l.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush after a failed write-out = %v, want %v", err, boom)
	}
	if err := w.l.WriteOut(); err != nil || w.l.Held() != 0 {
		t.Errorf("WriteOut with nothing held = %v, %d held; want nil, 0", err, w.l.Held())
	}
	if w.f.writes != 0 {
		t.Errorf("%d writes reached the file after the failure", w.f.writes)
	}
}
