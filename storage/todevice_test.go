package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// inboxContents returns the "n" member of each message's content.
func inboxContents(tb testing.TB, msgs []core.ToDeviceMessage) []string {
	tb.Helper()
	var out []string
	for _, m := range msgs {
		var c struct {
			N string `json:"n"`
		}
		if err := json.Unmarshal(m.Content, &c); err != nil {
			tb.Fatalf("content %s: %v", m.Content, err)
		}
		out = append(out, c.N)
	}
	return out
}

func content(n string) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n":%q}`, n)) }

func TestToDeviceOrderSinceLimitAck(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	td := NewToDeviceStore(db)
	mustDevice(t, db, "@a:x", "A1", "")
	mustDevice(t, db, "@b:x", "B1", "")
	mustDevice(t, db, "@b:x", "B2", "")

	send := func(txn string, targets ...core.ToDeviceTarget) bool {
		t.Helper()
		ok, err := td.SendToDevice(ctx, core.TxnID{UserID: "@a:x", DeviceID: "A1", TxnID: txn}, "m.test", targets)
		if err != nil {
			t.Fatalf("SendToDevice %s: %v", txn, err)
		}
		return ok
	}
	for i := range 5 {
		n := fmt.Sprint(i)
		if !send("t"+n, core.ToDeviceTarget{UserID: "@b:x", DeviceID: "B1", Content: content(n)}) {
			t.Fatalf("txn t%s reported as a retry", n)
		}
	}
	// A retried transaction delivers nothing.
	if send("t0", core.ToDeviceTarget{UserID: "@b:x", DeviceID: "B1", Content: content("dup")}) {
		t.Errorf("repeated txn t0 reported as new")
	}
	// "*" reaches each of the user's devices; an unknown device nothing.
	send("star", core.ToDeviceTarget{UserID: "@b:x", DeviceID: "*", Content: content("all")},
		core.ToDeviceTarget{UserID: "@b:x", DeviceID: "GONE", Content: content("lost")},
		core.ToDeviceTarget{UserID: "@nobody:x", DeviceID: "*", Content: content("lost")})

	cur, err := td.ToDevicePosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur != 7 {
		t.Errorf("ToDevicePosition = %d, want 7 (5 + 2 for *)", cur)
	}

	msgs, next, err := td.ToDeviceSince(ctx, "@b:x", "B1", 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0", "1", "2", "3"}, inboxContents(t, msgs)); diff != "" {
		t.Errorf("first page (-want +got):\n%s", diff)
	}
	if next != msgs[3].Pos {
		t.Errorf("next = %d after a full page, want the last message's position %d", next, msgs[3].Pos)
	}
	if msgs[0].Sender != "@a:x" || msgs[0].Type != "m.test" {
		t.Errorf("message = %+v, want sender @a:x and type m.test", msgs[0])
	}
	// Syncing from next acknowledges the first page.
	if err := td.DeleteToDeviceUpTo(ctx, "@b:x", "B1", next); err != nil {
		t.Fatal(err)
	}
	msgs, next2, err := td.ToDeviceSince(ctx, "@b:x", "B1", next, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"4", "all"}, inboxContents(t, msgs)); diff != "" {
		t.Errorf("second page (-want +got):\n%s", diff)
	}
	if next2 != cur {
		t.Errorf("next = %d after a short page, want the stream position %d", next2, cur)
	}
	// Deleted messages are gone even for a sync from the start.
	msgs, _, err = td.ToDeviceSince(ctx, "@b:x", "B1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"4", "all"}, inboxContents(t, msgs)); diff != "" {
		t.Errorf("after ack, from 0 (-want +got):\n%s", diff)
	}
	// B2 got only the "*" message, and B1's ack did not touch it.
	msgs, _, err = td.ToDeviceSince(ctx, "@b:x", "B2", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"all"}, inboxContents(t, msgs)); diff != "" {
		t.Errorf("B2 inbox (-want +got):\n%s", diff)
	}
	// The same txn ID for another event type is another transaction.
	ok, err := td.SendToDevice(ctx, core.TxnID{UserID: "@a:x", DeviceID: "A1", TxnID: "t0"}, "m.other",
		[]core.ToDeviceTarget{{UserID: "@b:x", DeviceID: "B2", Content: content("other type")}})
	if err != nil || !ok {
		t.Errorf("SendToDevice of another type with txn t0 = %v, %v; want a new transaction", ok, err)
	}
	msgs, _, err = td.ToDeviceSince(ctx, "@b:x", "B2", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"all", "other type"}, inboxContents(t, msgs)); diff != "" {
		t.Errorf("B2 inbox after a second type (-want +got):\n%s", diff)
	}
	// The same txn ID from another device is another transaction.
	ok, err = td.SendToDevice(ctx, core.TxnID{UserID: "@b:x", DeviceID: "B2", TxnID: "t0"}, "m.test",
		[]core.ToDeviceTarget{{UserID: "@a:x", DeviceID: "A1", Content: content("from b")}})
	if err != nil || !ok {
		t.Errorf("SendToDevice from B2 with txn t0 = %v, %v; want a new transaction", ok, err)
	}
	// A deleted device's inbox goes with it.
	if err := db.Write(ctx, func(q Queryer) error {
		_, err := q.ExecContext(ctx, "DELETE FROM devices WHERE user_id = '@b:x' AND device_id = 'B2'")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Reader().QueryRow("SELECT COUNT(*) FROM device_inbox WHERE device_id = 'B2'").Scan(&left); err != nil || left != 0 {
		t.Errorf("inbox rows of a deleted device = %d (%v), want 0", left, err)
	}
}

func TestToDeviceEmpty(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	td := NewToDeviceStore(db)
	msgs, next, err := td.ToDeviceSince(ctx, "@a:x", "A", 0, 10)
	if err != nil || len(msgs) != 0 || next != 0 {
		t.Errorf("ToDeviceSince on an empty inbox = %v, %d, %v; want nothing at 0", msgs, next, err)
	}
}

func BenchmarkToDeviceSendAndSync(b *testing.B) {
	ctx := context.Background()
	db := mustOpen(b)
	td := NewToDeviceStore(db)
	mustDevice(b, db, "@a:x", "A", "")
	mustDevice(b, db, "@b:x", "B", "")
	var since int64
	for i := 0; b.Loop(); i++ {
		_, err := td.SendToDevice(ctx, core.TxnID{UserID: "@a:x", DeviceID: "A", TxnID: fmt.Sprint(i)}, "m.test",
			[]core.ToDeviceTarget{{UserID: "@b:x", DeviceID: "B", Content: content("x")}})
		if err != nil {
			b.Fatal(err)
		}
		msgs, next, err := td.ToDeviceSince(ctx, "@b:x", "B", since, 100)
		if err != nil || len(msgs) != 1 {
			b.Fatalf("ToDeviceSince = %d messages, %v", len(msgs), err)
		}
		if err := td.DeleteToDeviceUpTo(ctx, "@b:x", "B", next); err != nil {
			b.Fatal(err)
		}
		since = next
	}
}

// A remote sender's message (from federation: no local device) is queued
// once per transaction (its message_id).
func TestToDeviceFromRemoteSender(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	td := NewToDeviceStore(db)
	mustDevice(t, db, "@b:x", "B1", "")
	txn := core.TxnID{UserID: "@a:remote.test", TxnID: "federation:remote.test:m1"}
	target := []core.ToDeviceTarget{{UserID: "@b:x", DeviceID: "*", Content: content("1")}}
	for i, want := range []bool{true, false} {
		fresh, err := td.SendToDevice(ctx, txn, "m.test", target)
		if err != nil || fresh != want {
			t.Fatalf("send %d = %v, %v; want %v", i, fresh, err, want)
		}
	}
	msgs, _, err := td.ToDeviceSince(ctx, "@b:x", "B1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := inboxContents(t, msgs); len(got) != 1 || msgs[0].Sender != "@a:remote.test" {
		t.Fatalf("inbox = %v %+v, want the message once from the remote sender", got, msgs)
	}
}

// TestToDeviceDeleteWritesOnlyWhatIsLeft checks that deleting a device's
// delivered messages writes only when some are left: a /sync repeating a
// to-device position whose messages are gone makes no write.
func TestToDeviceDeleteWritesOnlyWhatIsLeft(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	td := NewToDeviceStore(db)
	mustDevice(t, db, "@a:x", "A1", "")
	mustDevice(t, db, "@b:x", "B1", "")
	for i := range 3 {
		if _, err := td.SendToDevice(ctx, core.TxnID{UserID: "@a:x", DeviceID: "A1", TxnID: fmt.Sprint(i)}, "m.test",
			[]core.ToDeviceTarget{{UserID: "@b:x", DeviceID: "B1", Content: content(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _, err := td.ToDeviceSince(ctx, "@b:x", "B1", 0, 0)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("ToDeviceSince = %d messages, %v; want 3", len(msgs), err)
	}
	// The writes the writer has run: ByWrite is counted before a write's
	// caller is told (WriterStats.Writes only after, so it can miss the
	// write just returned). The full-text index's batch, armed when the
	// database opens, is the one write that runs on its own here: paused.
	pauseSearchIndex(db)
	writes := func() uint64 {
		var n uint64
		for _, w := range db.WriterStats().ByWrite {
			n += w.Count
		}
		return n
	}
	del := func(upTo int64, wantWrites uint64, wantLeft []string) {
		t.Helper()
		before := writes()
		if err := td.DeleteToDeviceUpTo(ctx, "@b:x", "B1", upTo); err != nil {
			t.Fatal(err)
		}
		if n := writes() - before; n != wantWrites {
			t.Errorf("DeleteToDeviceUpTo(%d) made %d writes, want %d", upTo, n, wantWrites)
		}
		left, _, err := td.ToDeviceSince(ctx, "@b:x", "B1", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := inboxContents(t, left); !cmp.Equal(got, wantLeft) {
			t.Errorf("after DeleteToDeviceUpTo(%d) left %v, want %v", upTo, got, wantLeft)
		}
	}
	del(msgs[0].Pos-1, 0, []string{"0", "1", "2"}) // nothing up to it
	del(msgs[1].Pos, 1, []string{"2"})
	del(msgs[1].Pos, 0, []string{"2"}) // the same token again
	del(msgs[2].Pos, 1, nil)
	del(msgs[2].Pos+5, 0, nil)
}

// TestToDeviceSinceCurrentReadsNothing checks that asking for a device's
// messages from the stream's current position reads nothing, and that
// asking from before it still finds a message sent meanwhile.
func TestToDeviceSinceCurrentReadsNothing(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t)
	td := NewToDeviceStore(db)
	mustDevice(t, db, "@a:x", "A1", "")
	mustDevice(t, db, "@b:x", "B1", "")
	pos, err := td.ToDevicePosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := db.ReadTransactions()
	msgs, next, err := td.ToDeviceSince(ctx, "@b:x", "B1", pos, 0)
	if err != nil || len(msgs) != 0 || next != pos {
		t.Fatalf("ToDeviceSince(current) = %d messages, next %d, %v; want none, %d", len(msgs), next, err, pos)
	}
	if n := db.ReadTransactions() - before; n != 0 {
		t.Errorf("ToDeviceSince(current) began %d read transactions, want 0", n)
	}
	if _, err := td.SendToDevice(ctx, core.TxnID{UserID: "@a:x", DeviceID: "A1", TxnID: "t"}, "m.test",
		[]core.ToDeviceTarget{{UserID: "@b:x", DeviceID: "B1", Content: content("x")}}); err != nil {
		t.Fatal(err)
	}
	msgs, next, err = td.ToDeviceSince(ctx, "@b:x", "B1", pos, 0)
	if err != nil || !cmp.Equal(inboxContents(t, msgs), []string{"x"}) || next != pos+1 {
		t.Errorf("ToDeviceSince after a send = %v, next %d, %v; want [x], %d", inboxContents(t, msgs), next, err, pos+1)
	}
}
