package vfstest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Run runs the whole suite on the VFS registered as vfsName.
func Run(t *testing.T, vfsName string) {
	if vfs.Find(vfsName) == nil {
		t.Fatalf("VFS %q is not registered", vfsName)
	}
	t.Run("File", func(t *testing.T) { testFile(t, vfsName, vfs.OPEN_MAIN_DB) })
	t.Run("FileWAL", func(t *testing.T) { testFile(t, vfsName, vfs.OPEN_WAL) })
	t.Run("OpenMissing", func(t *testing.T) { testOpenMissing(t, vfsName) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, vfsName) })
	t.Run("WALExclusive", func(t *testing.T) { testWALExclusive(t, vfsName) })
	t.Run("InsertsReadBack", func(t *testing.T) { testInsertsReadBack(t, vfsName) })
	t.Run("LargeBlob", func(t *testing.T) { testLargeBlob(t, vfsName) })
	t.Run("Truncate", func(t *testing.T) { testTruncate(t, vfsName) })
	t.Run("RollbackJournal", func(t *testing.T) { testRollbackJournal(t, vfsName) })
	t.Run("TwoConnections", func(t *testing.T) { testTwoConnections(t, vfsName) })
	t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, vfsName) })
	t.Run("TempFiles", func(t *testing.T) { testTempFiles(t, vfsName) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, vfsName) })
}

const fileFlags = vfs.OPEN_MAIN_DB | vfs.OPEN_READWRITE | vfs.OPEN_CREATE

// openFile opens path on vfsName directly, below SQLite.
func openFile(t *testing.T, vfsName, path string, flags vfs.OpenFlag) vfs.File {
	t.Helper()
	f, _, err := vfs.Find(vfsName).Open(path, flags)
	if err != nil {
		t.Fatalf("Open(%q, %#x): %v", path, flags, err)
	}
	return f
}

func fileSize(t *testing.T, f vfs.File) int64 {
	t.Helper()
	n, err := f.Size()
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	return n
}

// frameHeader returns a WAL frame header for page pgno; dbSize is non-zero
// on the last frame of a commit. The salts and checksums are left zero.
func frameHeader(pgno, dbSize uint32) []byte {
	h := make([]byte, 24)
	binary.BigEndian.PutUint32(h[0:], pgno)
	binary.BigEndian.PutUint32(h[4:], dbSize)
	return h
}

// pattern returns n bytes that differ from one offset to the next.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// testFile drives one file of the given kind (vfs.OPEN_MAIN_DB or
// vfs.OPEN_WAL) through writes, reads, truncation and a reopen, comparing
// it with a byte slice that models the same operations.
func testFile(t *testing.T, vfsName string, kind vfs.OpenFlag) {
	path := Fresh(t, vfsName)
	if kind == vfs.OPEN_WAL {
		path += "-wal"
	}
	f := openFile(t, vfsName, path, kind|vfs.OPEN_READWRITE|vfs.OPEN_CREATE)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()

	var model []byte
	write := func(off int, b []byte) {
		if n, err := f.WriteAt(b, int64(off)); err != nil || n != len(b) {
			t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(b), off, n, err)
		}
		if end := off + len(b); end > len(model) {
			model = append(model, make([]byte, end-len(model))...)
		}
		copy(model[off:], b)
	}
	truncate := func(size int) {
		if err := f.Truncate(int64(size)); err != nil {
			t.Fatalf("Truncate(%d): %v", size, err)
		}
		if size < len(model) {
			model = model[:size]
		} else {
			model = append(model, make([]byte, size-len(model))...)
		}
	}
	check := func(step string) {
		t.Helper()
		if got := fileSize(t, f); got != int64(len(model)) {
			t.Fatalf("after %s: Size() = %d, want %d", step, got, len(model))
		}
		got := make([]byte, len(model))
		if n, err := f.ReadAt(got, 0); n != len(got) || (err != nil && err != io.EOF) {
			t.Fatalf("after %s: ReadAt(all) = %d, %v", step, n, err)
		}
		if !bytes.Equal(got, model) {
			t.Fatalf("after %s: contents differ from the model", step)
		}
	}

	steps := []struct {
		name string
		do   func()
	}{
		{"write at 0", func() { write(0, []byte("hello")) }},
		{"write past the end leaves a hole", func() { write(8192, []byte("world")) }},
		{"overwrite inside", func() { write(2, []byte("LL")) }},
		{"write across 16 KiB and 64 KiB boundaries", func() { write(10000, pattern(120000, 1)) }},
		{"page-sized writes", func() {
			for i := 0; i < 8; i++ {
				write(4096*i, pattern(4096, byte(i)))
			}
		}},
		{"truncate to a partial block", func() { truncate(20001) }},
		{"grow by truncate", func() { truncate(70000) }},
		{"write after growth", func() { write(69990, pattern(20, 9)) }},
		{"truncate to zero", func() { truncate(0) }},
		{"write again", func() { write(100, pattern(5000, 3)) }},
		// SQLite writes a WAL as a 32-byte header, then each frame as a
		// 24-byte header and its page; the second word of the header of
		// a transaction's last frame is the database size (non-zero).
		{"WAL header and frames without a commit", func() {
			truncate(0)
			write(0, pattern(32, 4))
			for i := 0; i < 3; i++ {
				write(32+i*(24+4096), frameHeader(uint32(i+1), 0))
				write(32+i*(24+4096)+24, pattern(4096, byte(10+i)))
			}
		}},
		{"frames up to a commit", func() {
			for i := 3; i < 6; i++ {
				size := uint32(0)
				if i == 5 {
					size = 6
				}
				write(32+i*(24+4096), frameHeader(uint32(i+1), size))
				write(32+i*(24+4096)+24, pattern(4096, byte(10+i)))
			}
		}},
		{"a page rewritten in place, then a commit", func() {
			write(32+24, pattern(4096, 30))
			write(32+6*(24+4096), frameHeader(7, 7))
			write(32+6*(24+4096)+24, pattern(4096, 31))
		}},
		{"a frame over an old one after a rollback", func() {
			write(32+5*(24+4096), frameHeader(6, 0))
			write(32+5*(24+4096)+24, pattern(4096, 32))
		}},
	}
	for _, s := range steps {
		s.do()
		check(s.name)
	}

	// A read that runs past the end returns what is there and io.EOF.
	b := make([]byte, 100)
	n, err := f.ReadAt(b, int64(len(model)-10))
	if n != 10 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 10, io.EOF", n, err)
	}
	if !bytes.Equal(b[:10], model[len(model)-10:]) {
		t.Errorf("ReadAt across the end returned the wrong bytes")
	}
	if n, err := f.ReadAt(b, int64(len(model)+1000)); n != 0 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v; want 0, io.EOF", n, err)
	}
	if err := f.Sync(vfs.SYNC_FULL); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f = nil

	// The contents outlive the handle.
	f = openFile(t, vfsName, path, kind|vfs.OPEN_READWRITE)
	check("reopen")
	if ok, err := vfs.Find(vfsName).Access(path, vfs.ACCESS_EXISTS); !ok || err != nil {
		t.Errorf("Access(%q) while open = %v, %v; want true, nil", path, ok, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f = nil
	if ok, err := vfs.Find(vfsName).Access(path, vfs.ACCESS_EXISTS); !ok || err != nil {
		t.Errorf("Access(%q) after close = %v, %v; want true, nil", path, ok, err)
	}
}

// testOpenMissing checks the errors for missing files and empty files.
func testOpenMissing(t *testing.T, vfsName string) {
	v := vfs.Find(vfsName)
	path := Fresh(t, vfsName)
	if _, _, err := v.Open(path, vfs.OPEN_MAIN_DB|vfs.OPEN_READWRITE); !errors.Is(err, sqlite3.CANTOPEN) {
		t.Errorf("Open(missing, no create) error = %v, want CANTOPEN", err)
	}
	if err := v.Delete(path, false); !errors.Is(err, sqlite3.IOERR_DELETE_NOENT) {
		t.Errorf("Delete(missing) error = %v, want IOERR_DELETE_NOENT", err)
	}
	if ok, err := v.Access(path, vfs.ACCESS_EXISTS); ok || err != nil {
		t.Errorf("Access(missing) = %v, %v; want false, nil", ok, err)
	}

	// An empty file counts as missing for Access, as in SQLite's unix VFS,
	// so an empty journal is never taken for a hot one.
	f := openFile(t, vfsName, path, fileFlags)
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ok, err := v.Access(path, vfs.ACCESS_EXISTS); ok || err != nil {
		t.Errorf("Access(empty) = %v, %v; want false, nil", ok, err)
	}
	f = openFile(t, vfsName, path, vfs.OPEN_MAIN_DB|vfs.OPEN_READWRITE)
	if _, err := f.WriteAt([]byte{1}, 0); err != nil {
		t.Fatalf("WriteAt: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ok, err := v.Access(path, vfs.ACCESS_EXISTS); !ok || err != nil {
		t.Errorf("Access(1 byte) = %v, %v; want true, nil", ok, err)
	}
	if err := v.Delete(path, true); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, err := v.Access(path, vfs.ACCESS_EXISTS); ok || err != nil {
		t.Errorf("Access(deleted) = %v, %v; want false, nil", ok, err)
	}

	// Temporary files have no name and need no locks.
	tmp, _, err := v.Open("", vfs.OPEN_TEMP_JOURNAL|vfs.OPEN_READWRITE|vfs.OPEN_CREATE|vfs.OPEN_DELETEONCLOSE)
	if err != nil {
		t.Fatalf("Open(temp): %v", err)
	}
	if _, err := tmp.WriteAt([]byte("temp"), 10); err != nil {
		t.Errorf("temp WriteAt: %v", err)
	}
	if err := tmp.Lock(vfs.LOCK_EXCLUSIVE); err != nil {
		t.Errorf("temp Lock: %v", err)
	}
	if got := fileSize(t, tmp); got != 14 {
		t.Errorf("temp Size() = %d, want 14", got)
	}
	tmp.Close()
}

// testLocks checks SQLite's lock protocol between two files of this program
// that have the same path open.
func testLocks(t *testing.T, vfsName string) {
	path := Fresh(t, vfsName)
	a := openFile(t, vfsName, path, fileFlags)
	defer a.Close()
	b := openFile(t, vfsName, path, fileFlags)
	defer b.Close()
	files := map[string]vfs.File{"a": a, "b": b}

	steps := []struct {
		file   string
		op     string // "lock", "unlock"
		level  vfs.LockLevel
		busy   bool
		state  vfs.LockLevel // the file's level afterwards
		others bool          // CheckReservedLock afterwards
	}{
		{"a", "lock", vfs.LOCK_SHARED, false, vfs.LOCK_SHARED, false},
		{"b", "lock", vfs.LOCK_SHARED, false, vfs.LOCK_SHARED, false},
		{"a", "lock", vfs.LOCK_RESERVED, false, vfs.LOCK_RESERVED, true},
		{"b", "lock", vfs.LOCK_RESERVED, true, vfs.LOCK_SHARED, true},
		{"b", "lock", vfs.LOCK_EXCLUSIVE, true, vfs.LOCK_SHARED, true},
		// a waits for b's SHARED to go, holding PENDING meanwhile.
		{"a", "lock", vfs.LOCK_EXCLUSIVE, true, vfs.LOCK_PENDING, true},
		{"b", "unlock", vfs.LOCK_NONE, false, vfs.LOCK_NONE, true},
		// PENDING keeps new readers out.
		{"b", "lock", vfs.LOCK_SHARED, true, vfs.LOCK_NONE, true},
		{"a", "lock", vfs.LOCK_EXCLUSIVE, false, vfs.LOCK_EXCLUSIVE, true},
		{"b", "lock", vfs.LOCK_SHARED, true, vfs.LOCK_NONE, true},
		{"a", "unlock", vfs.LOCK_SHARED, false, vfs.LOCK_SHARED, false},
		{"b", "lock", vfs.LOCK_SHARED, false, vfs.LOCK_SHARED, false},
		// SHARED straight to EXCLUSIVE, as a hot-journal rollback does.
		{"b", "lock", vfs.LOCK_EXCLUSIVE, true, vfs.LOCK_PENDING, true},
		{"a", "unlock", vfs.LOCK_NONE, false, vfs.LOCK_NONE, true},
		{"b", "lock", vfs.LOCK_EXCLUSIVE, false, vfs.LOCK_EXCLUSIVE, true},
		{"b", "unlock", vfs.LOCK_NONE, false, vfs.LOCK_NONE, false},
		{"a", "lock", vfs.LOCK_SHARED, false, vfs.LOCK_SHARED, false},
		{"a", "unlock", vfs.LOCK_NONE, false, vfs.LOCK_NONE, false},
	}
	for i, s := range steps {
		f := files[s.file]
		var err error
		if s.op == "lock" {
			err = f.Lock(s.level)
		} else {
			err = f.Unlock(s.level)
		}
		if s.busy && !errors.Is(err, sqlite3.BUSY) {
			t.Errorf("step %d: %s.%s(%d) error = %v, want BUSY", i, s.file, s.op, s.level, err)
		}
		if !s.busy && err != nil {
			t.Errorf("step %d: %s.%s(%d) error = %v, want nil", i, s.file, s.op, s.level, err)
		}
		if ls, ok := f.(vfs.FileLockState); !ok {
			t.Fatalf("%T does not implement vfs.FileLockState", f)
		} else if got := ls.LockState(); got != s.state {
			t.Errorf("step %d: %s.LockState() = %d, want %d", i, s.file, got, s.state)
		}
		if got, err := files["a"].CheckReservedLock(); err != nil || got != s.others {
			t.Errorf("step %d: CheckReservedLock() = %v, %v; want %v", i, got, err, s.others)
		}
	}
}
