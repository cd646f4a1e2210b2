package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"hearth.dev/hearth/core"
)

// positionStreams are the streams whose positions are kept in memory and
// read by /sync, and the backfill stream, which counts down.
var positionStreams = []StreamIDs{liveStream, backfillStream, receiptStream, accountDataStream,
	presenceStream, toDeviceStream, deviceListStream}

// checkPositions compares every stream's kept position, as a read with
// ctx sees it, with the one read from the database with ctx.
func checkPositions(t *testing.T, ctx context.Context, db *DB, step string) {
	t.Helper()
	for _, s := range positionStreams {
		kept, err := db.position(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		read, err := s.Current(ctx, db.Cached())
		if err != nil {
			t.Fatal(err)
		}
		if kept != read {
			t.Errorf("%s: stream %s at %d kept, %d in the database", step, s.Name, kept, read)
		}
	}
}

// TestStreamPositionsKept checks that the positions kept in memory are
// those of the database after writes that take ids of one or several
// streams, grouped into the writer's batches, some of them failing (their
// ids are given back), and after reopening.
func TestStreamPositionsKept(t *testing.T) { openBoth(t, testStreamPositionsKept) }

func testStreamPositionsKept(t *testing.T, db *DB) {
	ctx := context.Background()
	checkPositions(t, ctx, db, "fresh database")
	failed := errors.New("failed")
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex // rng
	write := func() error {
		mu.Lock()
		n := 1 + rng.IntN(3)
		picks := make([]StreamIDs, n)
		counts := make([]int, n)
		for i := range picks {
			picks[i] = positionStreams[rng.IntN(len(positionStreams))]
			counts[i] = 1 + rng.IntN(3)
		}
		fail := rng.IntN(4) == 0
		mu.Unlock()
		err := db.Write(ctx, func(q Queryer) error {
			for i, s := range picks {
				if _, err := s.Next(ctx, q, counts[i]); err != nil {
					return err
				}
			}
			if fail {
				return failed
			}
			return nil
		})
		if fail && !errors.Is(err, failed) {
			return fmt.Errorf("failing write returned %v", err)
		}
		if !fail && err != nil {
			return err
		}
		return nil
	}
	for round := range 30 {
		// Writes queued together share a batch, each in its savepoint.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for range 5 {
					if err := write(); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkPositions(t, ctx, db, fmt.Sprintf("round %d", round))
	}
	// The stores' position methods read the kept positions.
	s := NewEventStore(db)
	pos, err := s.StreamPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := liveStream.Current(ctx, db.Cached()); pos != want || pos == 0 {
		t.Errorf("StreamPosition = %d, want %d (not 0)", pos, want)
	}
	if got, err := NewReceiptStore(db).ReceiptPosition(ctx); err != nil {
		t.Fatal(err)
	} else if want, _ := receiptStream.Current(ctx, db.Cached()); got != want {
		t.Errorf("ReceiptPosition = %d, want %d", got, want)
	}
}

// TestStreamPositionsReopen checks that a reopened database starts from
// the committed positions.
func TestStreamPositionsReopen(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range positionStreams {
		if err := db.Write(ctx, func(q Queryer) error {
			_, err := s.Next(ctx, q, i+1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenWith(t, o)
	checkPositions(t, ctx, db, "reopened")
	if got, _ := db.position(ctx, presenceStream); got != 5 {
		t.Errorf("presence position after reopening = %d, want 5", got)
	}
}

// TestStreamPositionsInScope checks that inside a read scope whose
// transaction began before a commit, the positions are those its snapshot
// covers (a /sync must not promise events its reads cannot see), and that
// after the scope is released they are the latest again.
func TestStreamPositionsInScope(t *testing.T) { openBoth(t, testStreamPositionsInScope) }

func testStreamPositionsInScope(t *testing.T, db *DB) {
	bg := context.Background()
	advance := func() {
		t.Helper()
		if err := db.Write(bg, func(q Queryer) error {
			if _, err := liveStream.Next(bg, q, 2); err != nil {
				return err
			}
			_, err := receiptStream.Next(bg, q, 1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	advance()
	ctx, end := db.ReadScope(bg)
	defer end()
	before, _ := db.position(ctx, liveStream) // no transaction yet: the latest
	// The scope's transaction begins, and its snapshot with its first
	// read of a table.
	var n int
	if err := db.Cached().QueryRowContext(ctx, "SELECT count(*) FROM stream_positions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	keepScopeYoung(db, ctx)
	advance() // another request commits
	checkPositions(t, ctx, db, "in the scope after another commit")
	checkPositions(t, bg, db, "outside the scope")
	inScope, _ := db.position(ctx, liveStream)
	latest, _ := db.position(bg, liveStream)
	if latest != before+2 {
		t.Errorf("latest live position %d, want %d", latest, before+2)
	}
	want := latest
	if !db.single {
		want = before // the scope's snapshot is older than the commit
	}
	if inScope != want {
		t.Errorf("live position in the scope = %d, want %d", inScope, want)
	}
	core.ReleaseReads(ctx)
	if got, _ := db.position(ctx, liveStream); got != latest {
		t.Errorf("live position after release = %d, want %d", got, latest)
	}
	checkPositions(t, ctx, db, "after release")
}
