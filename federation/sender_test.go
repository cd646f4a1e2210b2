package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/storage"
)

const (
	local  = "hearth.test"
	remote = "b.test"
	alice  = "@alice:" + local
	bob    = "@bob:" + remote
)

// queueFixture is a real database with a room shared with b.test.
type queueFixture struct {
	events *storage.EventStore
	queue  *storage.FederationQueueStore
	roomID string
	group  int64
	last   string
	depth  int64
	n      int
}

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(t.TempDir(), "hearth.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ClaimServerName(ctx, local); err != nil {
		t.Fatal(err)
	}
	f := &queueFixture{events: storage.NewEventStore(db), queue: storage.NewFederationQueueStore(db), roomID: "!room:" + local}
	if err := f.events.StoreRoom(ctx, core.RoomInfo{RoomID: f.roomID, RoomVersion: "10", Creator: alice}); err != nil {
		t.Fatal(err)
	}
	if f.group, err = f.events.StoreStateGroup(ctx, f.roomID, "$create", core.StateGroupDelta{Changes: core.StateMap{{Type: "m.room.create"}: "$create"}}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{alice, bob} {
		u := user
		id := "$join-" + u
		f.persist(t, core.NewEvent{EventID: id, Type: "m.room.member", StateKey: &u, Sender: u, Membership: "join"},
			core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: f.roomID, Changes: core.StateMap{{Type: "m.room.member", StateKey: u}: id}}}})
	}
	return f
}

func (f *queueFixture) persist(t *testing.T, ev core.NewEvent, opts core.PersistOptions) {
	t.Helper()
	f.depth++
	ev.RoomID, ev.Depth, ev.OriginServerTS, ev.StateGroup, ev.FormatVersion = f.roomID, f.depth, f.depth, f.group, 2
	if f.last != "" {
		ev.PrevEvents = []string{f.last}
	}
	ev.JSON, _ = json.Marshal(map[string]any{"room_id": f.roomID, "type": ev.Type, "sender": ev.Sender, "depth": ev.Depth, "content": map[string]any{"n": f.n}})
	if _, err := f.events.PersistEvents(context.Background(), []core.NewEvent{ev}, opts); err != nil {
		t.Fatal(err)
	}
	f.last = ev.EventID
}

// messages persists n messages of alice's.
func (f *queueFixture) messages(t *testing.T, n int) {
	t.Helper()
	for range n {
		f.n++
		f.persist(t, core.NewEvent{EventID: fmt.Sprintf("$m%d", f.n), Type: "m.room.message", Sender: alice}, core.PersistOptions{})
	}
}

// txn is a transaction the fake transport received.
type txn struct {
	PDUs []json.RawMessage `json:"pdus"`
	EDUs []struct {
		Type    string          `json:"edu_type"`
		Content json.RawMessage `json:"content"`
	} `json:"edus"`
}

// transport is a fake core.FederationClient: handle decides each
// transaction's fate.
type transport struct {
	handle   func(n int, t txn) error
	n        atomic.Int64
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	ok       atomic.Int64 // transactions that went through
}

func (tr *transport) Request(_ context.Context, destination, method, path string, body, out any) error {
	if destination != remote || method != "PUT" {
		return fmt.Errorf("unexpected %s %s to %s", method, path, destination)
	}
	cur := tr.inFlight.Add(1)
	defer tr.inFlight.Add(-1)
	for {
		m := tr.maxSeen.Load()
		if cur <= m || tr.maxSeen.CompareAndSwap(m, cur) {
			break
		}
	}
	b, _ := json.Marshal(body)
	var t txn
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	err := tr.handle(int(tr.n.Add(1)), t)
	if err == nil {
		tr.ok.Add(1)
	}
	return err
}

func newSender(t *testing.T, f *queueFixture, tr *transport, o federation.SenderOptions) *federation.Sender {
	t.Helper()
	o.ServerName, o.Store, o.Client = local, f.queue, tr
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := federation.NewSender(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitFor waits until cond holds (the test's own deadline bounds it).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if deadline, ok := t.Deadline(); ok && time.Until(deadline) < time.Second {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// receive waits for the next transaction on got (the test's own deadline
// bounds it, so a transaction that never comes fails with a message).
func receive(t *testing.T, got <-chan txn) txn {
	t.Helper()
	var limit <-chan time.Time
	if deadline, ok := t.Deadline(); ok {
		limit = time.After(time.Until(deadline) - time.Second)
	}
	select {
	case tx := <-got:
		return tx
	case <-limit:
		t.Fatal("gave up waiting for a transaction")
		return txn{}
	}
}

// drained reports whether tr delivered something and nothing is queued.
func (f *queueFixture) drained(t *testing.T, tr *transport) func() bool {
	return func() bool {
		if tr.ok.Load() == 0 {
			return false
		}
		p, err := f.queue.PendingDestinations(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(p) == 0
	}
}

// Everything queued reaches the destination in order, in transactions of
// at most 50 PDUs and 100 EDUs, one at a time even when more is queued
// while one is in flight.
func TestSenderOneTransactionInFlight(t *testing.T) {
	f := newQueueFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	var pdus []string
	var edus int
	release := make(chan struct{})
	started := make(chan struct{})
	var free atomic.Bool
	tr := &transport{handle: func(n int, tx txn) error {
		if len(tx.PDUs) > federation.MaxPDUsPerTxn || len(tx.EDUs) > federation.MaxEDUsPerTxn {
			t.Errorf("transaction %d has %d PDUs and %d EDUs", n, len(tx.PDUs), len(tx.EDUs))
		}
		mu.Lock()
		for _, p := range tx.PDUs {
			var ev struct{ Content struct{ N int } }
			json.Unmarshal(p, &ev)
			pdus = append(pdus, fmt.Sprint(ev.Content.N))
		}
		edus += len(tx.EDUs)
		mu.Unlock()
		if !free.Load() {
			started <- struct{}{}
			<-release
		}
		return nil
	}}
	s := newSender(t, f, tr, federation.SenderOptions{})
	f.messages(t, 120)
	s.Start()
	s.EventsPersisted()
	// While each of the first three transactions (121 PDUs need three) is
	// in flight, queue more: it must wait for the one in flight.
	for i := range 3 {
		<-started
		for range 60 {
			if err := s.SendEDU(ctx, remote, "m.typing", map[string]any{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		f.messages(t, 10)
		s.EventsPersisted()
		if i == 2 {
			free.Store(true)
		}
		release <- struct{}{}
	}
	// The last messages may still be on their way into the queue when it
	// looks empty: wait for everything to arrive, then for the queue.
	waitFor(t, "every PDU and EDU to arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(pdus) >= 151 && edus >= 180
	})
	waitFor(t, "the queue to drain", f.drained(t, tr))
	if m := tr.maxSeen.Load(); m != 1 {
		t.Fatalf("%d transactions were in flight at once", m)
	}
	mu.Lock()
	defer mu.Unlock()
	// bob's join is his server's; alice's join and 150 messages go.
	if len(pdus) != 151 || edus != 180 {
		t.Fatalf("sent %d PDUs and %d EDUs, want 151 and 180", len(pdus), edus)
	}
	for i, n := range pdus[1:] {
		if n != fmt.Sprint(i+1) {
			t.Fatalf("PDU %d is message %s: out of order", i+1, n)
		}
	}
}

var errDown = errors.New("connection refused")

// Failed transactions are retried after waits that double from the
// minimum up to the cap; then the queue is delivered and the retry state
// cleared.
func TestSenderBacksOff(t *testing.T) {
	f := newQueueFixture(t)
	ctx := context.Background()
	var intervals []int64
	var mu sync.Mutex
	tr := &transport{handle: func(n int, _ txn) error {
		r, err := f.queue.Retry(ctx, remote)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		intervals = append(intervals, r.RetryInterval)
		mu.Unlock()
		if n <= 5 {
			return errDown
		}
		return nil
	}}
	s := newSender(t, f, tr, federation.SenderOptions{MinBackoff: 2 * time.Millisecond, MaxBackoff: 8 * time.Millisecond})
	f.messages(t, 3)
	s.Start()
	s.EventsPersisted()
	waitFor(t, "the queue to drain", f.drained(t, tr))
	mu.Lock()
	got := fmt.Sprint(intervals)
	mu.Unlock()
	if want := "[0 2 4 8 8 8]"; got != want {
		t.Fatalf("retry intervals seen at each attempt = %s, want %s", got, want)
	}
	if r, _ := f.queue.Retry(ctx, remote); r.RetryInterval != 0 || r.FailureTS != 0 {
		t.Fatalf("retry state after delivery: %+v", r)
	}
}

// A destination backing off is retried at once when it reaches us; after
// a long outage it gets only the newest event of the room.
func TestSenderDestinationUpAndCatchUp(t *testing.T) {
	f := newQueueFixture(t)
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	got := make(chan txn, 10)
	tr := &transport{handle: func(n int, tx txn) error {
		got <- tx
		if n == 1 {
			return errDown
		}
		return nil
	}}
	s := newSender(t, f, tr, federation.SenderOptions{
		MinBackoff: time.Hour, CatchUpAfter: time.Hour,
		Now: func() time.Time { return time.UnixMilli(clock.Load()) },
	})
	f.messages(t, 5)
	s.Start()
	s.EventsPersisted()
	if first := receive(t, got); len(first.PDUs) != 6 {
		t.Fatalf("first transaction has %d PDUs, want alice's join and 5 messages", len(first.PDUs))
	}
	waitFor(t, "the failure to be recorded", func() bool {
		r, _ := f.queue.Retry(ctx, remote)
		return r.RetryInterval > 0
	})
	clock.Add((2 * time.Hour).Milliseconds())
	s.DestinationUp(ctx, remote)
	second := receive(t, got)
	if len(second.PDUs) != 1 {
		t.Fatalf("after a long outage the destination got %d PDUs, want the newest only", len(second.PDUs))
	}
	var ev struct{ Content struct{ N int } }
	json.Unmarshal(second.PDUs[0], &ev)
	if ev.Content.N != 5 {
		t.Fatalf("catch-up sent message %d, want the newest (5)", ev.Content.N)
	}
	waitFor(t, "the queue to drain", f.drained(t, tr))
}

// A destination that reaches us while a transaction to it is failing is
// retried at once, not after the backoff: the failure may be recorded
// after DestinationUp looked.
func TestSenderDestinationUpDuringAttempt(t *testing.T) {
	f := newQueueFixture(t)
	ctx := context.Background()
	var s *federation.Sender
	tr := &transport{handle: func(n int, _ txn) error {
		if n == 1 {
			s.DestinationUp(ctx, remote)
			return errDown
		}
		return nil
	}}
	s = newSender(t, f, tr, federation.SenderOptions{MinBackoff: time.Hour})
	f.messages(t, 2)
	s.Start()
	s.EventsPersisted()
	waitFor(t, "the queue to drain", f.drained(t, tr))
	if n := tr.n.Load(); n != 2 {
		t.Fatalf("%d transactions, want the failed one and its retry", n)
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Closing a sender while it starts (reading what is pending, queueing new
// events) logs no error: the cancelled context is how it stops.
func TestSenderCloseIsQuiet(t *testing.T) {
	f := newQueueFixture(t)
	f.messages(t, 3)
	var logs lockedBuffer
	for range 20 {
		s, err := federation.NewSender(federation.SenderOptions{
			ServerName: local, Store: f.queue, Client: &transport{handle: func(int, txn) error { return errDown }},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		s.EventsPersisted()
		s.Close()
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("closing the sender logged errors:\n%s", logs.String())
	}
}

type fakeReceipts struct{ got []core.Receipt }

func (f *fakeReceipts) SetReceipt(_ context.Context, r core.Receipt) (bool, error) {
	f.got = append(f.got, r)
	return true, nil
}

func (f *fakeReceipts) SetFullyRead(context.Context, string, string, string) (int64, error) {
	return 0, nil
}

type fakeToDevice struct {
	core.ToDeviceStore
	targets []core.ToDeviceTarget
	seen    map[string]bool
}

func (f *fakeToDevice) SendToDevice(_ context.Context, txn core.TxnID, _ string, targets []core.ToDeviceTarget) (bool, error) {
	if f.seen[txn.TxnID] {
		return false, nil
	}
	f.seen[txn.TxnID] = true
	f.targets = append(f.targets, targets...)
	return true, nil
}

// Public receipts and remote users' to-device messages are queued for
// their servers; private receipts, local devices' messages and repeated
// transactions are not.
func TestSenderEDUsOut(t *testing.T) {
	f := newQueueFixture(t)
	ctx := context.Background()
	// The destination is down: what is queued stays queued.
	s := newSender(t, f, &transport{handle: func(int, txn) error { return errDown }}, federation.SenderOptions{})
	servers := func(context.Context, string) ([]string, error) { return []string{remote}, nil }
	receipts := federation.ReceiptsOut{ReceiptStore: &fakeReceipts{}, Sender: s, Servers: servers}
	for _, typ := range []string{core.ReceiptReadPrivate, core.ReceiptRead} {
		if _, err := receipts.SetReceipt(ctx, core.Receipt{RoomID: f.roomID, UserID: alice, Type: typ, EventID: "$m1", TS: 5}); err != nil {
			t.Fatal(err)
		}
	}
	inner := &fakeToDevice{seen: map[string]bool{}}
	td := federation.ToDeviceOut{ToDeviceStore: inner, Sender: s, ServerName: local}
	targets := []core.ToDeviceTarget{
		{UserID: alice, DeviceID: "A", Content: json.RawMessage(`{"x":1}`)},
		{UserID: bob, DeviceID: "*", Content: json.RawMessage(`{"x":2}`)},
	}
	for range 2 {
		if _, err := td.SendToDevice(ctx, core.TxnID{UserID: alice, DeviceID: "A", TxnID: "t1"}, "m.test", targets); err != nil {
			t.Fatal(err)
		}
	}
	if len(inner.targets) != 1 || inner.targets[0].UserID != alice {
		t.Fatalf("local to-device targets = %+v, want alice's device only", inner.targets)
	}
	b, err := f.queue.NextBatch(ctx, remote, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range b.EDUs {
		types = append(types, e.Type)
	}
	if fmt.Sprint(types) != "[m.receipt m.direct_to_device]" {
		t.Fatalf("queued EDUs %v, want one public receipt and one to-device message", types)
	}
	var dtd struct {
		Sender    string                                `json:"sender"`
		MessageID string                                `json:"message_id"`
		Messages  map[string]map[string]json.RawMessage `json:"messages"`
	}
	json.Unmarshal(b.EDUs[1].Content, &dtd)
	if dtd.Sender != alice || dtd.MessageID == "" || string(dtd.Messages[bob]["*"]) != `{"x":2}` {
		t.Fatalf("to-device EDU %s", b.EDUs[1].Content)
	}
}
