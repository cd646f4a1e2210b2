package vfstest

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3/vfs"
)

// PhaseEnv names the environment variable that run-go-test.mjs --phases
// sets to the phase it runs.
const PhaseEnv = "HEARTH_TEST_PHASE"

// KillMarker is the stdout line on which run-go-test.mjs terminates the
// worker, as a crash of the tab would.
const KillMarker = "HEARTH-TEST: terminate-worker"

const (
	persistPath = "/persist.db"
	crashPath   = "/crash.db"
	// commitsPath takes small commits, one row each, the last of them
	// just before the crash, with nothing read or synced in between.
	commitsPath = "/crash-commits.db"
	commitRows  = 50
	// crashRows rows are committed before the simulated crash.
	crashRows = 6000
	// uncommittedFrom is the first id of the rows of the transaction that
	// is still open when the worker dies.
	uncommittedFrom = 1_000_000
)

// Phase runs one step of the persistence scenarios, chosen by the
// HEARTH_TEST_PHASE environment variable; each step runs in a new page and
// worker (or a restarted browser), so only what the VFS stored carries over:
//
//	write         create /persist.db with known rows and a blob, close it
//	verify        reopen /persist.db and check every row and the blob
//	crash         commit rows to /crash.db, leave a large transaction open
//	              (spilling pages to the WAL), and print KillMarker so the
//	              harness terminates the worker without closing anything
//	crash-verify  reopen /crash.db: exactly the committed rows are there
//
// Without HEARTH_TEST_PHASE the test is skipped: a single run cannot reload
// itself. Run it with
//
//	run-go-test.mjs --phases write,verify,crash,crash-verify prog.wasm -test.run Phase
func Phase(t *testing.T, vfsName string) {
	switch phase := os.Getenv(PhaseEnv); phase {
	case "":
		t.Skip("needs run-go-test.mjs --phases write,verify,crash,crash-verify")
	case "write":
		phaseWrite(t, vfsName)
	case "verify":
		phaseVerify(t, vfsName)
	case "crash":
		phaseCrash(t, vfsName)
	case "crash-verify":
		phaseCrashVerify(t, vfsName)
	default:
		t.Fatalf("unknown %s %q", PhaseEnv, phase)
	}
}

const persistBlobSize = 3<<20 + 5

func phaseWrite(t *testing.T, vfsName string) {
	Remove(t, vfsName, persistPath)
	db := Open(t, vfsName, persistPath, WAL...)
	mustExec(t, db, rowsSchema)
	mustExec(t, db, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
	fillRows(t, db, 0, 5000, 250)
	mustExec(t, db, "INSERT INTO blobs (id, data) VALUES (1, ?)", pattern(persistBlobSize, 42))
	checkRows(t, db, 5000)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func phaseVerify(t *testing.T, vfsName string) {
	if ok, err := vfs.Find(vfsName).Access(persistPath, vfs.ACCESS_EXISTS); !ok || err != nil {
		t.Fatalf("Access(%q) = %v, %v: the write phase left nothing", persistPath, ok, err)
	}
	db := Open(t, vfsName, persistPath, WAL...)
	checkRows(t, db, 5000)
	var blob []byte
	if err := db.QueryRow("SELECT data FROM blobs WHERE id = 1").Scan(&blob); err != nil {
		t.Fatalf("blob: %v", err)
	}
	if !bytes.Equal(blob, pattern(persistBlobSize, 42)) {
		t.Fatalf("blob differs after reload (%d bytes)", len(blob))
	}
	checkIntegrity(t, db)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	Remove(t, vfsName, persistPath)
}

func phaseCrash(t *testing.T, vfsName string) {
	Remove(t, vfsName, crashPath)
	db := Open(t, vfsName, crashPath, append(WAL, "cache_size(20)")...)
	mustExec(t, db, rowsSchema)
	mustExec(t, db, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
	fillRows(t, db, 0, crashRows/2, 100)
	// Enough pages for an automatic checkpoint to run before the crash.
	mustExec(t, db, "INSERT INTO blobs (id, data) VALUES (1, ?)", pattern(5<<20, 7))
	fillRows(t, db, crashRows/2, crashRows-1000, 100)
	// The last committed rows live only in WAL frames when the worker dies,
	// so reopening has to recover them from the WAL.
	mustExec(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	fillRows(t, db, crashRows-1000, crashRows, 100)
	checkRows(t, db, crashRows)

	walSize := func() int64 {
		f := openFile(t, vfsName, crashPath+"-wal", vfs.OPEN_WAL|vfs.OPEN_READWRITE)
		defer f.Close()
		return fileSize(t, f)
	}
	before := walSize()

	tx, err := db.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	stmt, err := tx.Prepare("INSERT INTO rows (id, name, n) VALUES (?, ?, ?)")
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	for i := uncommittedFrom; i < uncommittedFrom+20000; i++ {
		if _, err := stmt.Exec(i, fmt.Sprintf("uncommitted %d", i), 1); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	// With a 20-page cache, the open transaction has spilled pages to the
	// WAL: the crash leaves frames without a commit record behind.
	if after := walSize(); after <= before {
		t.Fatalf("WAL size %d after the uncommitted inserts, want more than %d", after, before)
	}

	// Small commits right before the crash, as a tab's sends are: each is
	// in the file when its commit returns, so all of them survive.
	Remove(t, vfsName, commitsPath)
	small := Open(t, vfsName, commitsPath, WAL...)
	mustExec(t, small, rowsSchema)
	for i := range commitRows {
		mustExec(t, small, "INSERT INTO rows (id, name, n) VALUES (?, ?, ?)", i, fmt.Sprintf("row %d", i), i)
	}

	fmt.Println(KillMarker)
	// The harness terminates the worker now; wait for it.
	for {
		time.Sleep(time.Hour)
	}
}

func phaseCrashVerify(t *testing.T, vfsName string) {
	db := Open(t, vfsName, crashPath, WAL...)
	checkRows(t, db, crashRows)
	if got := queryInt(t, db, "SELECT count(*) FROM rows WHERE id >= ?", uncommittedFrom); got != 0 {
		t.Errorf("%d rows of the uncommitted transaction survived the crash", got)
	}
	var blob []byte
	if err := db.QueryRow("SELECT data FROM blobs WHERE id = 1").Scan(&blob); err != nil {
		t.Fatalf("blob: %v", err)
	}
	if !bytes.Equal(blob, pattern(5<<20, 7)) {
		t.Errorf("blob differs after the crash (%d bytes)", len(blob))
	}
	checkIntegrity(t, db)
	small := Open(t, vfsName, commitsPath, WAL...)
	if got := queryInt(t, small, "SELECT count(*) FROM rows"); got != commitRows {
		t.Errorf("%d of the %d small commits made right before the crash survived it", got, commitRows)
	}
	checkIntegrity(t, small)
	small.Close()
	Remove(t, vfsName, commitsPath)
	// The database takes new writes.
	fillRows(t, db, crashRows, crashRows+10, 10)
	checkRows(t, db, crashRows+10)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	Remove(t, vfsName, crashPath)
}
