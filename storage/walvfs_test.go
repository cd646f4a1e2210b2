package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage/walgather"
)

// memFile is a vfs.File over a byte slice that counts its writes.
type memFile struct {
	vfs.File // nil: only what walFile calls is implemented
	b        []byte
	writes   int
	fail     error
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if m.fail != nil {
		return 0, m.fail
	}
	m.writes++
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, m.b[min(int(off), len(m.b)):])
	return n, nil
}

func (m *memFile) Size() (int64, error) { return int64(len(m.b)), nil }

func (m *memFile) Truncate(size int64) error {
	m.b = m.b[:min(int(size), len(m.b))]
	return nil
}

func (m *memFile) Sync(vfs.SyncFlag) error { return nil }
func (m *memFile) Close() error            { return nil }

func walFrameHeader(pgno, dbSize uint32) []byte {
	h := make([]byte, walgather.FrameHeaderSize)
	binary.BigEndian.PutUint32(h[0:], pgno)
	binary.BigEndian.PutUint32(h[4:], dbSize)
	return h
}

func pagePattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// TestWALFileGathersACommit drives a walFile as SQLite drives a WAL:
// header, frames, a commit, a frame rewritten in place, a frame written
// over an old one after a rollback. After each step the file holds the
// same bytes as a model written directly; a commit reaches the file in
// one write, before its last WriteAt returns.
func TestWALFileGathersACommit(t *testing.T) {
	const page = 4096
	under := &memFile{}
	f := newWALFile(under)
	var model []byte
	write := func(off int, p []byte) {
		t.Helper()
		if n, err := f.WriteAt(p, int64(off)); err != nil || n != len(p) {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
		}
		if end := off + len(p); end > len(model) {
			model = append(model, make([]byte, end-len(model))...)
		}
		copy(model[off:], p)
	}
	frame := func(i int, dbSize uint32, seed byte) {
		write(walgather.HeaderSize+i*(walgather.FrameHeaderSize+page), walFrameHeader(uint32(i+1), dbSize))
		write(walgather.HeaderSize+i*(walgather.FrameHeaderSize+page)+walgather.FrameHeaderSize, pagePattern(page, seed))
	}
	check := func(step string, wantWrites int) {
		t.Helper()
		if under.writes != wantWrites {
			t.Errorf("%s: %d writes reached the file, want %d", step, under.writes, wantWrites)
		}
		if !bytes.Equal(under.b, model) {
			t.Errorf("%s: the file differs from the bytes written", step)
		}
	}

	write(0, pagePattern(walgather.HeaderSize, 1))
	for i := range 5 {
		frame(i, 0, byte(10+i))
	}
	if under.writes != 0 {
		t.Errorf("frames of an open transaction: %d writes reached the file, want none yet", under.writes)
	}
	frame(5, 6, 15)
	check("a commit of the header and six frames", 1)

	// A page rewritten in place (earlier offset), then a commit frame.
	frame(6, 0, 20)
	write(walgather.HeaderSize+6*(walgather.FrameHeaderSize+page)+walgather.FrameHeaderSize, pagePattern(page, 21))
	frame(7, 8, 22)
	check("a frame rewritten in place, then a commit", 3)

	// A rolled-back transaction's frames are written over by the next.
	frame(8, 0, 30)
	frame(8, 0, 31)
	frame(9, 10, 32)
	check("frames over a rolled-back frame", 5)

	// A read, the size and a sync each see what was written.
	frame(10, 0, 40)
	got := make([]byte, page)
	if _, err := f.ReadAt(got, int64(walgather.HeaderSize+10*(walgather.FrameHeaderSize+page)+walgather.FrameHeaderSize)); err != nil || !bytes.Equal(got, pagePattern(page, 40)) {
		t.Errorf("ReadAt of a held frame = %v, err %v", got[:4], err)
	}
	check("a read of a held frame", 6)
	frame(11, 0, 41)
	if size, err := f.Size(); err != nil || size != int64(len(model)) {
		t.Errorf("Size = %d, %v; want %d", size, err, len(model))
	}
	frame(12, 0, 42)
	if err := f.Sync(vfs.SYNC_NORMAL); err != nil {
		t.Fatal(err)
	}
	check("size and sync", 8)

	// A failed write-out fails every later write and sync.
	boom := errors.New("disk full")
	frame(13, 0, 50)
	under.fail = boom
	if _, err := f.WriteAt(walFrameHeader(15, 15), int64(walgather.HeaderSize+14*(walgather.FrameHeaderSize+page))); err != nil {
		t.Fatalf("a held write failed early: %v", err)
	}
	if _, err := f.WriteAt(pagePattern(page, 51), int64(walgather.HeaderSize+14*(walgather.FrameHeaderSize+page)+walgather.FrameHeaderSize)); !errors.Is(err, boom) {
		t.Errorf("commit write-out error = %v, want %v", err, boom)
	}
	under.fail = nil
	if _, err := f.WriteAt(walFrameHeader(16, 0), 0); !errors.Is(err, boom) {
		t.Errorf("write after a failed write-out = %v, want %v", err, boom)
	}
	if err := f.Sync(vfs.SYNC_NORMAL); !errors.Is(err, boom) {
		t.Errorf("sync after a failed write-out = %v, want %v", err, boom)
	}
}

// TestWALCommitsThroughOpen stores messages one write each on a native
// database as Open opens it: each commit reaches the WAL in about one
// write instead of two per page, every reader connection sees each commit
// once Write returns, and the file is whole when it opens again.
func TestWALCommitsThroughOpen(t *testing.T) {
	if testVFS != "" || singleConnection("") {
		t.Skip("the native VFS with reader connections only")
	}
	o := testOptions(t)
	s := newTestStoreWith(t, o)
	ctx := context.Background()
	r := newTestRoom(t, s, "wal")
	count := func(db *DB) int {
		t.Helper()
		var n int
		if err := db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM events WHERE type = 'm.room.message'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const msgs = 200
	in, out := walWritesIn.Load(), walWritesOut.Load()
	prev := ""
	for i := range msgs {
		name := fmt.Sprint("w", i)
		ev := r.msg(name, int64(i+2))
		if prev != "" {
			ev = r.msg(name, int64(i+2), prev)
		}
		r.persist(core.PersistOptions{}, ev)
		prev = name
		if n := count(s.db); n != i+1 {
			t.Fatalf("after commit %d a reader sees %d messages", i+1, n)
		}
	}
	in, out = walWritesIn.Load()-in, walWritesOut.Load()-out
	t.Logf("%d commits: SQLite wrote the WAL %d times, the file took %d writes", msgs, in, out)
	if in < 10*msgs || out > 2*msgs {
		t.Errorf("%d commits: SQLite wrote the WAL %d times, the file took %d writes; want about one a commit", msgs, in, out)
	}
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	db := mustOpenWith(t, o)
	var ok string
	if err := db.Reader().QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check = %q, %v", ok, err)
	}
	if n := count(db); n != msgs {
		t.Errorf("after reopening: %d messages, want %d", n, msgs)
	}
}
