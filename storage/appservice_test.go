package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/appservice"
)

func ephemeralJSON(t *testing.T, q *AppServiceQueueStore, service string, upTo int64, limit int) []string {
	t.Helper()
	evs, err := q.Ephemeral(context.Background(), service, upTo, limit)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range evs {
		out = append(out, string(e.JSON))
	}
	return out
}

// TestAppServiceQueueStore checks a service's place, its transaction in
// flight and its ephemeral queue: queued per service in order, trimmed
// to the most kept, read up to a bound, and removed only when accepted.
func TestAppServiceQueueStore(t *testing.T) {
	ctx := context.Background()
	q := NewAppServiceQueueStore(newTestStore(t).db)

	pos, err := q.Position(ctx, "irc")
	if err != nil || pos != (appservice.Position{Stream: 0, TxnID: 1}) {
		t.Fatalf("Position of a new service = %+v, %v", pos, err)
	}
	for i := range 5 {
		ev := json.RawMessage(fmt.Sprintf(`{"type":"m.typing","n":%d}`, i))
		services := []string{"irc"}
		if i%2 == 0 {
			services = append(services, "slack")
		}
		if err := q.QueueEphemeral(ctx, services, ev, 4); err != nil {
			t.Fatal(err)
		}
	}
	// irc keeps its newest 4; slack has 0, 2 and 4.
	want := []string{`{"type":"m.typing","n":1}`, `{"type":"m.typing","n":2}`, `{"type":"m.typing","n":3}`, `{"type":"m.typing","n":4}`}
	if diff := cmp.Diff(want, ephemeralJSON(t, q, "irc", 0, 100)); diff != "" {
		t.Errorf("irc's ephemeral queue (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`{"type":"m.typing","n":0}`, `{"type":"m.typing","n":2}`, `{"type":"m.typing","n":4}`},
		ephemeralJSON(t, q, "slack", 0, 100)); diff != "" {
		t.Errorf("slack's ephemeral queue (-want +got):\n%s", diff)
	}
	first, err := q.Ephemeral(ctx, "irc", 0, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("Ephemeral(limit 2) = %v, %v", first, err)
	}
	bound := first[1].ID
	if diff := cmp.Diff(want[:2], ephemeralJSON(t, q, "irc", bound, 100)); diff != "" {
		t.Errorf("irc's queue up to %d (-want +got):\n%s", bound, diff)
	}

	// A transaction in flight is remembered until accepted.
	if err := q.Pend(ctx, "irc", appservice.Pending{Stream: 7, Ephemeral: bound}); err != nil {
		t.Fatal(err)
	}
	pos, err = q.Position(ctx, "irc")
	if err != nil || pos.Pending == nil || *pos.Pending != (appservice.Pending{Stream: 7, Ephemeral: bound}) || pos.TxnID != 1 {
		t.Fatalf("Position with a transaction in flight = %+v (%v), %v", pos, pos.Pending, err)
	}
	if err := q.Advance(ctx, "irc", 7, 2, bound); err != nil {
		t.Fatal(err)
	}
	pos, err = q.Position(ctx, "irc")
	if err != nil || pos != (appservice.Position{Stream: 7, TxnID: 2}) {
		t.Fatalf("Position after Advance = %+v, %v", pos, err)
	}
	if diff := cmp.Diff(want[2:], ephemeralJSON(t, q, "irc", 0, 100)); diff != "" {
		t.Errorf("irc's queue after Advance (-want +got):\n%s", diff)
	}
	if got := ephemeralJSON(t, q, "slack", 0, 100); len(got) != 3 {
		t.Errorf("slack's queue after irc's Advance = %v, want its 3", got)
	}
	// An Advance past events of no interest keeps the queue.
	if err := q.Advance(ctx, "irc", 9, 2, 0); err != nil {
		t.Fatal(err)
	}
	if got := ephemeralJSON(t, q, "irc", 0, 100); len(got) != 2 {
		t.Errorf("irc's queue after skipping events = %v", got)
	}
}

// TestMigrateAppServiceEphemeral opens a version-2 database written
// before delta 2/97, with a service's place stored, with today's schema:
// the place is kept, with no transaction in flight, and the ephemeral
// queue works.
func TestMigrateAppServiceEphemeral(t *testing.T) {
	ctx := context.Background()
	const delta = "main/delta/2/97appservice_ephemeral.sql"
	o := testOptions(t)
	old := openBefore(t, o, delta)
	if err := old.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "INSERT INTO appservice_stream_position (service, stream_ordering, txn_id) VALUES ('irc', 42, 5)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db := mustOpenMigrated(t, o, delta)
	q := NewAppServiceQueueStore(db)
	pos, err := q.Position(ctx, "irc")
	if err != nil || pos != (appservice.Position{Stream: 42, TxnID: 5}) {
		t.Errorf("Position after migrating = %+v, %v", pos, err)
	}
	if err := q.QueueEphemeral(ctx, []string{"irc"}, json.RawMessage(`{}`), 10); err != nil {
		t.Fatal(err)
	}
	if got := ephemeralJSON(t, q, "irc", 0, 10); len(got) != 1 {
		t.Errorf("ephemeral queue after migrating = %v", got)
	}
}
