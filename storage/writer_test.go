package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func createKV(t testing.TB, db *DB) {
	t.Helper()
	err := db.Write(context.Background(), func(q Queryer) error {
		_, err := q.ExecContext(context.Background(), "CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countKV(t testing.TB, db *DB) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow("SELECT count(*) FROM kv").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A failing write in a group of concurrent writes rolls back only itself.
func TestWriteGroupIsolatesFailures(t *testing.T) {
	db := mustOpen(t)
	createKV(t, db)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Write(ctx, func(q Queryer) error {
				if _, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (?, 'x')", i); err != nil {
					return err
				}
				if i%10 == 0 {
					return fmt.Errorf("refused %d", i)
				}
				if i%10 == 5 {
					panic("bad write")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if (i%10 == 0 || i%10 == 5) != (err != nil) {
			t.Errorf("write %d: err = %v", i, err)
		}
		if err != nil {
			failed++
		}
	}
	if got, want := countKV(t, db), len(errs)-failed; got != want {
		t.Errorf("%d rows committed, want %d", got, want)
	}
}

func TestWriteAfterClose(t *testing.T) {
	db, err := Open(context.Background(), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = db.Write(context.Background(), func(Queryer) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

func TestReadSeesOwnSnapshot(t *testing.T) {
	db := mustOpen(t)
	createKV(t, db)
	ctx := context.Background()
	db.Write(ctx, func(q Queryer) error { _, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (1, 'a')"); return err })
	err := db.Read(ctx, func(q Queryer) error {
		var v string
		if err := q.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = 1").Scan(&v); err != nil {
			return err
		}
		if v != "a" {
			return fmt.Errorf("read %q", v)
		}
		if db.single {
			return nil // one connection: a write would wait for this read
		}
		if err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, "UPDATE kv SET v = 'b' WHERE k = 1")
			return err
		}); err != nil {
			return err
		}
		if err := q.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = 1").Scan(&v); err != nil {
			return err
		}
		if v != "a" {
			return fmt.Errorf("read transaction saw a later write: %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The kill -9 test: a child process writes rows and prints each key once
// Write returned; the parent kills it mid-stream and checks every printed
// key is in the database.
const crashChildEnv = "HEARTH_STORAGE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if dir := os.Getenv(twoFileCrashEnv); dir != "" {
		twoFileCrashChild(dir)
		return
	}
	if path := os.Getenv(fedQueueChildEnv); path != "" {
		fedQueueChild(path)
		return
	}
	os.Exit(m.Run())
}

func crashChild(path string) {
	db, err := Open(context.Background(), Options{Path: path, Logger: quietLog})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
		return err
	})
	for i := 0; ; i++ {
		err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (?, 'durable')", i)
			return err
		})
		if err != nil {
			fmt.Println("write:", err)
			os.Exit(4)
		}
		fmt.Println(i)
	}
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("needs a child process")
	}
	path := testPath(t, "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("child: %s", sc.Text())
		}
		acked = n
		if n == 500 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	if acked < 500 {
		t.Fatalf("child acknowledged only %d writes", acked)
	}
	db := mustOpenWith(t, Options{Path: path, Logger: quietLog})
	var missing int
	if err := db.Reader().QueryRow("SELECT ? + 1 - count(*) FROM kv WHERE k <= ?", acked, acked).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("%d acknowledged writes lost after kill -9", missing)
	}
}

func BenchmarkWriteSequential(b *testing.B) {
	db := mustOpen(b)
	createKV(b, db)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := db.Write(ctx, func(q Queryer) error {
			_, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (?, 'value')", i)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteParallel(b *testing.B) {
	db := mustOpen(b)
	createKV(b, db)
	ctx := context.Background()
	var next int64
	var mu sync.Mutex
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			next++
			k := next
			mu.Unlock()
			err := db.Write(ctx, func(q Queryer) error {
				_, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (?, 'value')", k)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// insertKV is a write function with a name of its own.
func insertKV(q Queryer) error {
	time.Sleep(kvWriteTime)
	_, err := q.ExecContext(context.Background(), "INSERT INTO kv (v) VALUES ('named')")
	return err
}

// kvWriteTime is what insertKV and writeKV's writes take at least, so that
// their time is above a coarse clock's step: a browser worker's clock
// moves by 100 µs, and a write of one row took less, measured as 0.
const kvWriteTime = time.Millisecond

// writeKV writes k through a closure. Not inlined: an inlined copy of a
// function makes its closures under the caller's name.
//
//go:noinline
func writeKV(db *DB, k int) error {
	ctx := context.Background()
	return db.Write(ctx, func(q Queryer) error {
		time.Sleep(kvWriteTime)
		_, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (?, 'x')", k)
		return err
	})
}

// The writer adds up its time by the function that wrote: every closure
// made by one function under that function's name, a named function under
// its own, a failed write too.
func TestWriterStatsByWrite(t *testing.T) {
	db := mustOpen(t)
	createKV(t, db)
	ctx := context.Background()
	for i := range 3 {
		if err := writeKV(db, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Write(ctx, insertKV); err != nil {
		t.Fatal(err)
	}
	if err := writeKV(db, 1); err == nil {
		t.Fatal("a duplicate key was written")
	}
	st := db.WriterStats()
	for name, want := range map[string]uint64{
		"storage.writeKV.func1": 4,
		"storage.insertKV":      1,
	} {
		if got := st.ByWrite[name].Count; got != want {
			t.Errorf("ByWrite[%q].Count = %d, want %d (all: %v)", name, got, want, st.ByWrite)
		}
		// Each run took at least kvWriteTime; a coarse clock (a browser
		// worker's) may read a step less.
		wt, least := st.ByWrite[name], kvWriteTime/2
		if wt.Time < time.Duration(want)*least || wt.Max < least || wt.Max > wt.Time {
			t.Errorf("ByWrite[%q] = %+v: want each of %d runs at least %v, max at most the sum", name, wt, want, least)
		}
	}
	// Busy holds the write functions' time and COMMIT's. A COMMIT can be
	// shorter than a browser worker's clock step: there it may read 0.
	if st.Commit < 0 || (st.Commit == 0 && testVFS == "") || st.Busy < 5*kvWriteTime/2+st.Commit {
		t.Errorf("Busy %v, Commit %v: want 0 < Commit, and Busy above Commit and the writes' %v", st.Busy, st.Commit, 5*kvWriteTime/2)
	}
}

// A write's statements run without its caller's cancellation: a caller
// cancelled while its write runs still gets every statement and the
// commit. A context without cancellation is passed on as it is, with no
// allocation per statement (the persister detaches its context once).
func TestWriteStatementsIgnoreCancellation(t *testing.T) {
	db := mustOpen(t)
	createKV(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := db.Write(ctx, func(q Queryer) error {
		cancel()
		for i := range 3 {
			if _, err := q.ExecContext(ctx, "INSERT INTO kv VALUES (?, 'x')", i); err != nil {
				return err
			}
		}
		var n int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM kv").Scan(&n); err != nil || n != 3 {
			return fmt.Errorf("count in the write: %d, %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKV(t, db); n != 3 {
		t.Fatalf("%d rows committed, want 3", n)
	}

	detached := context.WithoutCancel(ctx)
	if got := detach(detached); got != detached {
		t.Fatalf("detach wrapped a context without cancellation again")
	}
	if n := testing.AllocsPerRun(100, func() { _ = detach(detached) }); n != 0 {
		t.Fatalf("detach of a detached context: %v allocations, want 0", n)
	}
	if d := detach(ctx); d.Done() != nil || d.Err() != nil {
		t.Fatalf("detach of a cancelled context: Done %v, Err %v", d.Done(), d.Err())
	}
}

// TestWriterStatsCountBeforeReturn: a write is in WriterStats (Writes,
// Batches) as soon as the caller's Write returns, not some time
// after, so that a caller comparing the counts around its own write finds
// it. The writer counted after telling the caller; a caller scheduled
// first saw the old counts.
func TestWriterStatsCountBeforeReturn(t *testing.T) {
	db := mustOpen(t)
	createKV(t, db)
	for i := range 300 {
		before := db.WriterStats()
		if err := writeKV(db, 100+i); err != nil {
			t.Fatal(err)
		}
		after := db.WriterStats()
		if after.Writes <= before.Writes || after.Batches <= before.Batches {
			t.Fatalf("write %d: stats %d writes, %d batches after it returned; %d, %d before",
				i, after.Writes, after.Batches, before.Writes, before.Batches)
		}
	}
}
