package core

import "sync"

// Notifier wakes waiting /sync requests when something a client may see
// has changed (an event, a to-device message, account data, a receipt...).
// hearth serves one user (or a handful), so one broadcast is enough: every
// waiter re-reads its streams.
//
// Use: take ch := n.Changed() before reading the streams; if nothing new was
// found, wait on ch (or the timeout). A change between the read and the wait
// has already closed ch, so it is never missed.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns a channel closed at the next Notify.
func (n *Notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Notify wakes everyone waiting on a channel from Changed. Call it after
// the change is committed.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
