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

// kick wakes the node's replay loop.
func (s *Server) kick(ns *nodeState) {
	select {
	case ns.kick <- struct{}{}:
	default:
	}
}

// replay delivers the node's stored transactions, oldest first, one at a
// time, while its connection lasts. A transaction leaves the queue once the
// node has answered it (any status but 429 and 5xx, which the origin would
// retry too); the node's transaction layer is idempotent per (origin,
// txnId), so a delivery the relay could not confirm is safely repeated.
func (s *Server) replay(sess *session, ns *nodeState) {
	ctx := context.Background()
	backoff := time.Second
	for {
		select {
		case <-ns.kick:
		case <-sess.conn.Done():
			return
		}
		for {
			ns.mu.Lock()
			if ns.sess != sess {
				ns.mu.Unlock()
				s.kick(ns) // the kick may have been meant for the new session
				return
			}
			st, err := s.cfg.Store.Next(ctx, sess.label)
			if err == nil && st == nil {
				ns.draining = false
			}
			ns.mu.Unlock()
			if err != nil {
				s.log.Error("relay: reading the queue", "node", s.serverName(sess.label), "err", err)
				break
			}
			if st == nil {
				backoff = time.Second
				break
			}
			if !s.deliver(sess, st) {
				// Try again later, unless the connection has gone.
				wait := backoff + rand.N(backoff/2)
				backoff = min(2*backoff, time.Minute)
				t := time.AfterFunc(wait, func() { s.kick(ns) })
				select {
				case <-sess.conn.Done():
					t.Stop()
					return
				default:
				}
				break
			}
			if err := s.cfg.Store.Dequeue(ctx, sess.label, st.Seq); err != nil {
				s.log.Error("relay: dequeuing", "node", s.serverName(sess.label), "err", err)
				break
			}
		}
	}
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
