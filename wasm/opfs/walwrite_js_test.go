package opfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"syscall/js"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"

	"hearth.dev/hearth/storage/walgather"
	"hearth.dev/hearth/wasm/jsvfs"
)

// walFile opens a fresh WAL file below SQLite and removes it at cleanup.
func walFile(t *testing.T, p string) *file {
	t.Helper()
	fsVFS{}.Delete(p, false)
	f, _, err := fsVFS{}.Open(p, vfs.OPEN_WAL|vfs.OPEN_READWRITE|vfs.OPEN_CREATE)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		f.Close()
		fsVFS{}.Delete(p, false)
	})
	return f.(*file)
}

func frame(pgno, dbSize uint32, fill byte) (hdr, page []byte) {
	hdr = make([]byte, walgather.FrameHeaderSize)
	binary.BigEndian.PutUint32(hdr[0:], pgno)
	binary.BigEndian.PutUint32(hdr[4:], dbSize)
	return hdr, bytes.Repeat([]byte{fill}, 4096)
}

func mustWrite(t *testing.T, f *file, b []byte, off int64) {
	t.Helper()
	if n, err := f.WriteAt(b, off); err != nil || n != len(b) {
		t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(b), off, n, err)
	}
}

// TestWALWritesOncePerCommit checks that a transaction's frames reach the
// file in one write, made when its commit frame is complete, and that
// nothing is held after a commit.
func TestWALWritesOncePerCommit(t *testing.T) {
	f := walFile(t, "/wal-once.db-wal")
	before := ReadStats().Writes
	mustWrite(t, f, make([]byte, walgather.HeaderSize), 0)
	off := int64(walgather.HeaderSize)
	for i := uint32(1); i <= 4; i++ {
		var size uint32
		if i == 4 {
			size = 4
		}
		hdr, page := frame(i, size, byte(i))
		mustWrite(t, f, hdr, off)
		mustWrite(t, f, page, off+walgather.FrameHeaderSize)
		off += walgather.FrameHeaderSize + 4096
		if i < 4 && ReadStats().Writes != before {
			t.Fatalf("after frame %d of 4: %d writes to the file, want none before the commit", i, ReadStats().Writes-before)
		}
	}
	if got := ReadStats().Writes - before; got != 1 {
		t.Errorf("writes to the file for one transaction of 4 frames = %d, want 1", got)
	}
	f.mu.Lock()
	held := f.log.Held()
	f.mu.Unlock()
	if held != 0 {
		t.Errorf("%d bytes still held after the commit frame", held)
	}
	// What the file holds now is what a reload would find.
	r, err := jsvfs.Invoke(f.handle.read, f.sah, js.Global().Get("Uint8Array").New(int(off)), map[string]any{"at": 0})
	if err != nil || r.Int() != int(off) {
		t.Fatalf("read of the file behind the VFS = %v, %v; want %d bytes", r, err, off)
	}
}

// TestWALHeldWritesAreVisible checks that reads and sizes see frames not
// yet written out (a transaction that spilled pages reads them back).
func TestWALHeldWritesAreVisible(t *testing.T) {
	f := walFile(t, "/wal-visible.db-wal")
	mustWrite(t, f, make([]byte, walgather.HeaderSize), 0)
	hdr, page := frame(1, 0, 7)
	mustWrite(t, f, hdr, walgather.HeaderSize)
	mustWrite(t, f, page, walgather.HeaderSize+walgather.FrameHeaderSize)
	if n, err := f.Size(); err != nil || n != walgather.HeaderSize+walgather.FrameHeaderSize+4096 {
		t.Fatalf("Size() = %d, %v; want %d", n, err, walgather.HeaderSize+walgather.FrameHeaderSize+4096)
	}
	hdr, page = frame(2, 0, 8)
	mustWrite(t, f, hdr, walgather.HeaderSize+walgather.FrameHeaderSize+4096)
	mustWrite(t, f, page, walgather.HeaderSize+2*walgather.FrameHeaderSize+4096)
	got := make([]byte, 4096)
	if _, err := f.ReadAt(got, walgather.HeaderSize+2*walgather.FrameHeaderSize+4096); err != nil || !bytes.Equal(got, page) {
		t.Fatalf("ReadAt of a held page = %v, bytes equal %v", err, bytes.Equal(got, page))
	}
}

// TestWALWriteFailureSticks checks that once held frames cannot be
// written, no later write or flush succeeds: a commit must never land
// behind a gap.
func TestWALWriteFailureSticks(t *testing.T) {
	f := walFile(t, "/wal-fail.db-wal")
	mustWrite(t, f, make([]byte, walgather.HeaderSize), 0)
	hdr, page := frame(1, 0, 1)
	mustWrite(t, f, hdr, walgather.HeaderSize)
	mustWrite(t, f, page, walgather.HeaderSize+walgather.FrameHeaderSize)
	// Closing the access handle behind the VFS makes every call fail.
	f.mu.Lock()
	jsvfs.Call(f.sah, "close")
	f.mu.Unlock()
	hdr, page = frame(2, 2, 2)
	mustWrite(t, f, hdr, walgather.HeaderSize+walgather.FrameHeaderSize+4096)
	_, err := f.WriteAt(page, walgather.HeaderSize+2*walgather.FrameHeaderSize+4096)
	if err == nil {
		t.Fatal("the commit's write succeeded on a closed handle")
	}
	if _, err2 := f.WriteAt(page, 1<<20); err2 == nil {
		t.Errorf("a write after the failure succeeded")
	}
	if err2 := f.Sync(vfs.SYNC_NORMAL); err2 == nil {
		t.Errorf("Sync after a failed write succeeded")
	}
}

// TestWALGrowsAhead checks that a WAL's file is grown ahead of its
// writes while SQLite sees only what was written, and that closing the
// file gives the room back.
func TestWALGrowsAhead(t *testing.T) {
	const p = "/wal-grow.db-wal"
	f := walFile(t, p)
	mustWrite(t, f, make([]byte, walgather.HeaderSize), 0)
	hdr, page := frame(1, 1, 5)
	mustWrite(t, f, hdr, walgather.HeaderSize)
	mustWrite(t, f, page, walgather.HeaderSize+walgather.FrameHeaderSize)
	const logical = walgather.HeaderSize + walgather.FrameHeaderSize + 4096
	f.mu.Lock()
	raw, err := f.rawSize()
	f.mu.Unlock()
	if err != nil || raw < walGrowMin {
		t.Errorf("file size after the first commit = %d, %v; want at least %d", raw, err, walGrowMin)
	}
	if n, err := f.Size(); err != nil || n != logical {
		t.Errorf("Size() = %d, %v; want %d", n, err, logical)
	}
	b := make([]byte, 100)
	if n, err := f.ReadAt(b, logical); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(at the end) = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := f.ReadAt(b, logical-10); n != 10 || err != io.EOF {
		t.Errorf("ReadAt(across the end) = %d, %v; want 10, io.EOF", n, err)
	}
	// More commits than walGrowMin holds grow the file again.
	big := bytes.Repeat([]byte{9}, walGrowMin)
	mustWrite(t, f, big, logical)
	if n, err := f.Size(); err != nil || n != logical+walGrowMin {
		t.Errorf("Size() after a large write = %d, %v; want %d", n, err, logical+walGrowMin)
	}
	if err := f.Truncate(logical); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	g, _, err := fsVFS{}.Open(p, vfs.OPEN_WAL|vfs.OPEN_READWRITE)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer g.Close()
	gh := g.(*file)
	gh.mu.Lock()
	raw, err = gh.rawSize()
	gh.mu.Unlock()
	if err != nil || raw != logical {
		t.Errorf("file size after close = %d, %v; want %d", raw, err, logical)
	}
	got := make([]byte, 4096)
	if _, err := g.ReadAt(got, walgather.HeaderSize+walgather.FrameHeaderSize); err != nil || !bytes.Equal(got, page) {
		t.Errorf("page after reopen: %v, equal %v", err, bytes.Equal(got, page))
	}
}
