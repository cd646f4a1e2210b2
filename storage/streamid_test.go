package storage

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"hearth.dev/hearth/core"
)

func TestStreamIDs(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	next := func(s StreamIDs, n int) int64 {
		t.Helper()
		var id int64
		err := db.Write(ctx, func(q Queryer) error {
			var err error
			id, err = s.Next(ctx, q, n)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		stream StreamIDs
		n      int
		want   int64
	}{
		{liveStream, 1, 1},
		{liveStream, 1, 2},
		{liveStream, 3, 3}, // 3, 4, 5
		{backfillStream, 1, -1},
		{backfillStream, 2, -2}, // -2, -3
		{liveStream, 1, 6},
		{backfillStream, 1, -4},
	}
	for _, tt := range tests {
		if got := next(tt.stream, tt.n); got != tt.want {
			t.Errorf("%s.Next(%d) = %d, want %d", tt.stream.Name, tt.n, got, tt.want)
		}
	}

	// A write that fails gives its ids back.
	boom := errors.New("boom")
	err = db.Write(ctx, func(q Queryer) error {
		if _, err := liveStream.Next(ctx, q, 5); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing write: %v", err)
	}
	if got := next(liveStream, 1); got != 7 {
		t.Errorf("after a rolled-back write Next = %d, want 7", got)
	}
	err = db.Write(ctx, func(q Queryer) error {
		_, err := liveStream.Next(ctx, q, 0)
		return err
	})
	if err == nil {
		t.Error("Next(0) succeeded")
	}

	// A reopened database continues where it was.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenWith(t, o)
	if got := next(liveStream, 1); got != 8 {
		t.Errorf("after reopening live Next = %d, want 8", got)
	}
	if got := next(backfillStream, 1); got != -5 {
		t.Errorf("after reopening backfill Next = %d, want -5", got)
	}
	s := NewEventStore(db)
	if pos, err := s.StreamPosition(ctx); err != nil || pos != 8 {
		t.Errorf("StreamPosition = %d, %v; want 8", pos, err)
	}
}

func TestStreamOrderingsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	db, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	s := NewEventStore(db)
	r := newTestRoom(t, s, "r")
	r.persist(core.PersistOptions{}, r.msg("a", 1), r.msg("b", 2, "a"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = NewEventStore(mustOpenWith(t, o))
	r.s = s
	so := r.persist(core.PersistOptions{}, r.msg("c", 3, "b"))
	if so[0] != 3 {
		t.Errorf("first event after reopening has stream ordering %d, want 3", so[0])
	}
}

// TestStreamAdvancedAfterCommit checks that the writer calls
// Options.StreamAdvanced after a commit that took a stream id, and only
// then: not for writes that advance no stream, nor for failed ones.
func TestStreamAdvancedAfterCommit(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	var calls atomic.Int64
	o.StreamAdvanced = func() { calls.Add(1) }
	db := mustOpenWith(t, o)
	want := func(step string, n int64) {
		t.Helper()
		if got := calls.Load(); got != n {
			t.Errorf("%s: StreamAdvanced called %d times, want %d", step, got, n)
		}
	}
	base := calls.Load()
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "UPDATE stream_positions SET stream_id = stream_id WHERE stream_name = ?", StreamEvents)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("a write that takes no stream id", base)
	failed := errors.New("failed")
	if err := db.Write(ctx, func(q Queryer) error {
		if _, err := receiptStream.Next(ctx, q, 1); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("failing write: %v", err)
	}
	want("a failed write", base)
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := receiptStream.Next(ctx, q, 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("a write that takes an id", base+1)
	if _, err := NewAccountDataStore(db).SetAccountData(ctx, "@a:example.org", "", "m.test", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	want("account data", base+2)
}
