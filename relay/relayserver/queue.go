package relayserver

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"hearth.dev/hearth/relay"
)

// kick makes sure the node's queue is being replayed if it is connected:
// it starts a replay unless one runs, and tells a running one to look
// again. No goroutine waits for an idle node.
func (s *Server) kick(ns *nodeState) {
	ns.mu.Lock()
	sess := ns.sess
	if sess == nil {
		ns.mu.Unlock()
		return
	}
	if ns.replaying {
		ns.again = true
		ns.mu.Unlock()
		return
	}
	ns.replaying = true
	ns.mu.Unlock()
	go s.replay(sess, ns)
}

// replay delivers the node's stored transactions, oldest first, one at a
// time, while its connection lasts. A transaction leaves the queue once the
// node has answered it (any status but 429 and 5xx, which the origin would
// retry too); the node's transaction layer is idempotent per (origin,
// txnId), so a delivery the relay could not confirm is safely repeated.
// After a failed delivery it tries again later, with backoff.
func (s *Server) replay(sess *session, ns *nodeState) {
	ctx := context.Background()
	defer func() {
		ns.mu.Lock()
		ns.replaying = false
		again := ns.again
		ns.again = false
		ns.mu.Unlock()
		if again {
			s.kick(ns)
		}
	}()
	for {
		ns.mu.Lock()
		if ns.sess != sess {
			ns.mu.Unlock()
			return
		}
		ns.again = false
		st, err := s.cfg.Store.Next(ctx, sess.label)
		if err == nil && st == nil {
			ns.draining = false
			ns.backoff = 0
		}
		ns.mu.Unlock()
		if err != nil {
			s.log.Error("relay: reading the queue", "node", s.serverName(sess.label), "err", err)
			s.retryLater(ns)
			return
		}
		if st == nil {
			return
		}
		if !s.deliver(sess, st) {
			s.retryLater(ns)
			return
		}
		if err := s.cfg.Store.Dequeue(ctx, sess.label, st.Seq); err != nil {
			s.log.Error("relay: dequeuing", "node", s.serverName(sess.label), "err", err)
			s.retryLater(ns)
			return
		}
		ns.mu.Lock()
		ns.backoff = 0
		ns.mu.Unlock()
	}
}

// retryLater kicks the node again after a jittered, growing wait.
func (s *Server) retryLater(ns *nodeState) {
	ns.mu.Lock()
	ns.backoff = min(max(2*ns.backoff, time.Second), time.Minute)
	wait := ns.backoff/2 + rand.N(ns.backoff/2+1)
	ns.mu.Unlock()
	time.AfterFunc(wait, func() { s.kick(ns) })
}

// deliver sends one stored transaction and reports whether the node took
// it.
func (s *Server) deliver(sess *session, st *Stored) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ForwardTimeout)
	defer cancel()
	select {
	case sess.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-sess.sem }()
	req, err := http.NewRequestWithContext(ctx, st.Method, st.Target, bytes.NewReader(st.Body))
	if err != nil {
		s.log.Error("relay: a stored request does not parse; dropped", "node", s.serverName(sess.label), "seq", st.Seq)
		return true
	}
	req.Host = s.serverName(sess.label)
	req.Header = st.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set(relay.StoredHeader, "1")
	resp, err := sess.conn.RoundTrip(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests
}
