package core

import "context"

// PersistHook is told about every batch of events PersistEvents committed,
// before PersistEvents returns to its caller (so before the caller wakes
// /sync). It must not fail the write, which is already durable: it logs
// what goes wrong.
type PersistHook interface {
	EventsPersisted(ctx context.Context, events []NewEvent, opts PersistOptions)
}

// HookedEventStore is the event-persisting path: an EventStore whose
// PersistEvents runs Hooks, in order, after each committed batch (push
// rules, and later the federation sender). Every writer of events — the
// room pipeline for local events, federation for remote ones — persists
// through the same HookedEventStore, so no event misses its bookkeeping.
type HookedEventStore struct {
	EventStore
	Hooks []PersistHook
}

var _ EventStore = (*HookedEventStore)(nil)

// PersistEvents implements EventStore: it stores the batch, then runs the
// hooks.
func (s *HookedEventStore) PersistEvents(ctx context.Context, events []NewEvent, opts PersistOptions) ([]int64, error) {
	so, err := s.EventStore.PersistEvents(ctx, events, opts)
	if err != nil {
		return so, err
	}
	for _, h := range s.Hooks {
		h.EventsPersisted(ctx, events, opts)
	}
	return so, nil
}
