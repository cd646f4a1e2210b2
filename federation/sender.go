package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"hearth.dev/hearth/core"
)

// Transaction limits of the server-server API (PUT /send/{txnId}).
const (
	MaxPDUsPerTxn = 50
	MaxEDUsPerTxn = 100
)

// Defaults of SenderOptions.
const (
	DefaultMinBackoff   = 10 * time.Second
	DefaultMaxBackoff   = time.Hour
	DefaultCatchUpAfter = time.Hour
)

// queueChunk is how many new events one QueueNewEvents call takes.
const queueChunk = 200

// SenderOptions configure a Sender.
type SenderOptions struct {
	// ServerName is the local server (the origin of transactions).
	ServerName string
	// Store persists the queues (required).
	Store core.FederationQueueStore
	// Client sends the transactions (required).
	Client core.FederationClient
	// Notifier, when set, wakes the sender after events are persisted (the
	// one /sync waits on); EventsPersisted does the same by hand.
	Notifier *core.Notifier
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// MinBackoff is the wait after a first failure, doubled after each
	// further one up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// CatchUpAfter is how long a destination must have been failing before
	// the sender stops sending it every queued event and sends only the
	// newest of each room (Synapse's catch-up): the destination fetches
	// the rest with get_missing_events.
	CatchUpAfter time.Duration
	// Logger; nil uses slog.Default().
	Logger *slog.Logger
}

// Sender is the outbound half of the transaction layer (seed 001): local
// events and EDUs are queued per destination in the database, and each
// destination gets one transaction at a time of at most 50 PDUs and 100
// EDUs, retried with exponential backoff.
type Sender struct {
	o      SenderOptions
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	dests  map[string]*destination
	closed bool

	txnPrefix string
	txnSeq    atomic.Int64
}

// destination is the sender's in-memory state of one destination: whether
// a worker is sending to it (at most one, so at most one transaction is in
// flight), and the timer of its next retry.
type destination struct {
	name    string
	running bool
	again   bool // kicked while running: look at the queue again
	up      bool // reached us while running: a failure now is retried at once
	timer   *time.Timer
}

// NewSender returns a sender; Start runs it.
func NewSender(o SenderOptions) (*Sender, error) {
	if o.Store == nil || o.Client == nil || o.ServerName == "" {
		return nil, errors.New("federation: a sender needs the server name, a queue store and a client")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.CatchUpAfter <= 0 {
		o.CatchUpAfter = DefaultCatchUpAfter
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{
		o: o, ctx: ctx, cancel: cancel,
		wake:      make(chan struct{}, 1),
		dests:     map[string]*destination{},
		txnPrefix: fmt.Sprintf("%d", o.Now().UnixMilli()),
	}, nil
}

// Start queues what was persisted while the server was down, resumes every
// destination with something queued (those backing off when their wait
// ends) and then follows new events until Close.
func (s *Sender) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pending, err := s.o.Store.PendingDestinations(s.ctx)
		// Close cancels the context: stopping then is not an error.
		if err != nil && s.ctx.Err() == nil {
			s.o.Logger.Error("federation sender: pending destinations", "err", err)
		}
		for _, d := range pending {
			s.kick(d.Destination)
		}
		s.loop()
	}()
}

func (s *Sender) loop() {
	for {
		var changed <-chan struct{}
		if s.o.Notifier != nil {
			changed = s.o.Notifier.Changed()
		}
		s.queueNew()
		select {
		case <-s.ctx.Done():
			return
		case <-changed:
		case <-s.wake:
		}
	}
}

// queueNew moves newly persisted events, and the m.device_list_update
// and m.presence EDUs of local device and presence changes, into the
// destinations' queues and kicks those destinations.
// One read first tells which of them has anything to do: the sender wakes
// after every commit, and most commits concern none of them.
func (s *Sender) queueNew() {
	w, err := s.o.Store.QueueWaiting(s.ctx)
	if err != nil {
		if s.ctx.Err() == nil {
			s.o.Logger.Error("federation sender: queue positions", "err", err)
		}
		return
	}
	if w.Events {
		s.queueFrom("new events", s.o.Store.QueueNewEvents)
	}
	if w.DeviceLists {
		s.queueFrom("device list updates", s.o.Store.QueueDeviceListUpdates)
	}
	if w.Presence {
		s.queueFrom("presence", s.o.Store.QueuePresenceUpdates)
	}
}

func (s *Sender) queueFrom(what string, queue func(ctx context.Context, limit int) ([]string, bool, error)) {
	for {
		dests, more, err := queue(s.ctx, queueChunk)
		if err != nil {
			if s.ctx.Err() == nil {
				s.o.Logger.Error("federation sender: queueing "+what, "err", err)
			}
			return
		}
		for _, d := range dests {
			s.kick(d)
		}
		if !more {
			return
		}
	}
}

// EventsPersisted wakes the sender to queue newly persisted events.
func (s *Sender) EventsPersisted() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// SendEDU queues an EDU for destination and starts sending it.
func (s *Sender) SendEDU(ctx context.Context, destination, eduType string, content any) error {
	if destination == s.o.ServerName {
		return nil
	}
	b, err := json.Marshal(content)
	if err != nil {
		return fmt.Errorf("federation: EDU %s: %w", eduType, err)
	}
	if err := s.o.Store.QueueEDU(ctx, destination, eduType, b); err != nil {
		return err
	}
	s.kick(destination)
	return nil
}

// DestinationUp tells the sender that destination reached this server (it
// sent a request): if it was backing off, it is retried at once. It costs
// nothing for a destination that is not backing off.
func (s *Sender) DestinationUp(ctx context.Context, destination string) {
	s.mu.Lock()
	d := s.dests[destination]
	if d != nil && d.running {
		// The worker may be recording a failure right now: it does not
		// back off after this attempt.
		d.up = true
	}
	backingOff := d != nil && d.timer != nil
	s.mu.Unlock()
	if !backingOff {
		return
	}
	if err := s.o.Store.ResetRetry(ctx, destination); err != nil {
		s.o.Logger.Error("federation sender: reset retry", "destination", destination, "err", err)
		return
	}
	s.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	s.mu.Unlock()
	s.kick(destination)
}

// Close stops the sender and waits for transactions in flight. What is
// still queued stays in the database for the next Start.
func (s *Sender) Close() {
	s.mu.Lock()
	s.closed = true
	for _, d := range s.dests {
		if d.timer != nil {
			d.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// kick makes sure a worker looks at destination's queue.
func (s *Sender) kick(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	d := s.dests[name]
	if d == nil {
		d = &destination{name: name}
		s.dests[name] = d
	}
	if d.running {
		d.again = true
		return
	}
	if d.timer != nil {
		return // backing off: the timer kicks it
	}
	d.running = true
	s.wg.Add(1)
	go s.run(d)
}

// run sends destination's queue, one transaction at a time, until it is
// empty or a transaction fails.
func (s *Sender) run(d *destination) {
	defer s.wg.Done()
	for {
		sent, wait := s.attempt(d.name)
		s.mu.Lock()
		up := d.up
		d.up = false
		switch {
		case s.closed:
			d.running = false
		case wait > 0 && up:
			// The destination reached us during the attempt: try again now.
			s.mu.Unlock()
			if err := s.o.Store.ResetRetry(s.ctx, d.name); err != nil {
				s.storeFailed(d.name, err)
			}
			continue
		case wait > 0:
			d.running, d.again = false, false
			d.timer = time.AfterFunc(wait, func() {
				s.mu.Lock()
				d.timer = nil
				s.mu.Unlock()
				s.kick(d.name)
			})
		case sent || d.again:
			d.again = false
			s.mu.Unlock()
			continue
		default:
			d.running = false
		}
		s.mu.Unlock()
		return
	}
}

// attempt sends one transaction to destination if it is not backing off.
// It reports whether it sent one, or how long to wait before trying again.
func (s *Sender) attempt(dest string) (sent bool, wait time.Duration) {
	ctx := s.ctx
	now := s.o.Now().UnixMilli()
	r, err := s.o.Store.Retry(ctx, dest)
	if err != nil {
		return false, s.storeFailed(dest, err)
	}
	if r.RetryInterval > 0 {
		if due := r.RetryLastTS + r.RetryInterval; now < due {
			return false, time.Duration(due-now) * time.Millisecond
		}
	}
	if r.FailureTS != 0 && time.Duration(now-r.FailureTS)*time.Millisecond >= s.o.CatchUpAfter {
		n, err := s.o.Store.CatchUp(ctx, dest)
		if err != nil {
			return false, s.storeFailed(dest, err)
		}
		if n > 0 {
			s.o.Logger.Info("federation sender: catching up", "destination", dest, "dropped", n)
		}
	}
	b, err := s.o.Store.NextBatch(ctx, dest, MaxPDUsPerTxn, MaxEDUsPerTxn)
	if err != nil {
		return false, s.storeFailed(dest, err)
	}
	if b.Empty() {
		return false, 0
	}
	txnID := fmt.Sprintf("%s.%d", s.txnPrefix, s.txnSeq.Add(1))
	var resp struct {
		PDUs map[string]struct {
			Error string `json:"error"`
		} `json:"pdus"`
	}
	err = s.o.Client.Request(ctx, dest, "PUT", "/_matrix/federation/v1/send/"+url.PathEscape(txnID), transactionBody(s.o.ServerName, now, b), &resp)
	if err != nil {
		if ctx.Err() != nil {
			return false, 0
		}
		interval := s.nextBackoff(time.Duration(r.RetryInterval) * time.Millisecond)
		s.o.Logger.Info("federation sender: transaction failed", "destination", dest, "txn_id", txnID, "retry_in", interval, "err", err)
		if err := s.o.Store.SendFailed(ctx, dest, now, interval.Milliseconds()); err != nil {
			return false, s.storeFailed(dest, err)
		}
		return false, interval
	}
	for id, res := range resp.PDUs {
		if res.Error != "" {
			s.o.Logger.Info("federation sender: PDU refused", "destination", dest, "event_id", id, "error", res.Error)
		}
	}
	if err := s.o.Store.BatchSent(ctx, dest, b); err != nil {
		return false, s.storeFailed(dest, err)
	}
	return true, 0
}

// storeFailed logs a storage failure and waits the shortest backoff.
func (s *Sender) storeFailed(dest string, err error) time.Duration {
	if s.ctx.Err() == nil {
		s.o.Logger.Error("federation sender: queue", "destination", dest, "err", err)
	}
	return s.o.MinBackoff
}

// nextBackoff doubles prev, from MinBackoff up to MaxBackoff.
func (s *Sender) nextBackoff(prev time.Duration) time.Duration {
	if prev <= 0 {
		return s.o.MinBackoff
	}
	return min(max(prev*2, s.o.MinBackoff), s.o.MaxBackoff)
}

// transaction is the body of PUT /send/{txnId}.
type transaction struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []edu             `json:"edus,omitempty"`
}

type edu struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

func transactionBody(origin string, now int64, b core.OutboundBatch) transaction {
	t := transaction{Origin: origin, OriginServerTS: now, PDUs: make([]json.RawMessage, len(b.PDUs))}
	for i, p := range b.PDUs {
		t.PDUs[i] = p.JSON
	}
	for _, e := range b.EDUs {
		t.EDUs = append(t.EDUs, edu{Type: e.Type, Content: e.Content})
	}
	return t
}
