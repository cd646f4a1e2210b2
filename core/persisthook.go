package core

import (
	"context"
	"slices"
)

// PersistHook is told about every batch of events PersistEvents committed,
// before PersistEvents returns to its caller (so before the caller wakes
// /sync). It must not fail the write, which is already durable: it logs
// what goes wrong.
type PersistHook interface {
	EventsPersisted(ctx context.Context, events []NewEvent, opts PersistOptions)
}

// PersistPreparer is a PersistHook that also sees each batch before it is
// stored, to add what the batch's own write records (push rules'
// notifications). It must not fail the write either: it logs what goes
// wrong and leaves the events as they are.
type PersistPreparer interface {
	PersistHook
	PreparePersist(ctx context.Context, events []NewEvent, opts PersistOptions)
}

// HookedEventStore is the event-persisting path: an EventStore whose
// PersistEvents has the hooks that are PersistPreparers prepare each batch,
// stores it, and runs Hooks, in order, after it is committed (push rules,
// and the modules' on_new_event). Every writer of events — the
// room pipeline for local events, federation for remote ones — persists
// through the same HookedEventStore, so no event misses its bookkeeping.
type HookedEventStore struct {
	EventStore
	Hooks []PersistHook
}

var _ EventStore = (*HookedEventStore)(nil)

// PersistEvents implements EventStore: it prepares the batch (on a copy:
// the caller's events are left as they are), stores it, then runs the
// hooks.
func (s *HookedEventStore) PersistEvents(ctx context.Context, events []NewEvent, opts PersistOptions) ([]int64, error) {
	prepared := false
	for _, h := range s.Hooks {
		if p, ok := h.(PersistPreparer); ok {
			if !prepared {
				events, prepared = slices.Clone(events), true
			}
			p.PreparePersist(ctx, events, opts)
		}
	}
	so, err := s.EventStore.PersistEvents(ctx, events, opts)
	if err != nil {
		return so, err
	}
	for _, h := range s.Hooks {
		h.EventsPersisted(ctx, events, opts)
	}
	return so, nil
}
