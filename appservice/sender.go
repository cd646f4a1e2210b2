package appservice

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	as "hearth.dev/hearth/core/appservice"
	"hearth.dev/hearth/internal/httpout"
)

// SenderOptions are what a Sender is built from.
type SenderOptions struct {
	Services *as.Set
	Store    as.QueueStore
	// Notifier wakes the sender when the event stream advances.
	Notifier *core.Notifier
	// Client makes the requests (nil: a client with a 60 s timeout).
	Client httpout.Client
	Logger *slog.Logger
}

// Sender pushes events to the application services, one goroutine per
// service with a URL, each with at most one transaction in flight. A
// service's place in the stream advances only when the service accepted
// the transaction, so a failed one is retried (same transaction ID, same
// events) after a growing wait, and a restart resumes where it stopped.
type Sender struct {
	o      SenderOptions
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	wakes map[string]chan struct{} // by service ID
}

// NewSender returns a sender; Start starts it.
func NewSender(o SenderOptions) *Sender {
	if o.Client == nil {
		o.Client = httpout.New(60 * time.Second)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{o: o, ctx: ctx, cancel: cancel, wakes: map[string]chan struct{}{}}
	for _, r := range o.Services.All() {
		s.wakes[r.ID] = make(chan struct{}, 1)
	}
	return s
}

// Start starts one delivery loop per service that has a URL.
func (s *Sender) Start() {
	for _, r := range s.o.Services.All() {
		if r.URL == "" {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.run(r)
		}()
	}
}

// Close stops the loops and waits for them; a transaction in flight is
// abandoned and sent again at the next start.
func (s *Sender) Close() {
	s.cancel()
	s.wg.Wait()
}

// wakeService makes r's loop look for work.
func (s *Sender) wakeService(id string) {
	select {
	case s.wakes[id] <- struct{}{}:
	default:
	}
}

// StatusError is an application service's answer other than 2xx.
type StatusError struct {
	Status int
	Body   []byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("application service answered %d: %.200s", e.Status, e.Body)
}
