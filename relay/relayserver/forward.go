package relayserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
	"hearth.dev/hearth/relay"
)

// isSend reports whether r is PUT /_matrix/federation/v1/send/{txnId}, the
// one request the relay stores for an offline node.
func isSend(r *http.Request) bool {
	txn, ok := strings.CutPrefix(r.URL.Path, "/_matrix/federation/v1/send/")
	return ok && r.Method == http.MethodPut && txn != "" && !strings.Contains(txn, "/")
}

// isServerKeys reports whether r asks for the node's own keys.
func isServerKeys(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		(r.URL.Path == "/_matrix/key/v2/server" || strings.HasPrefix(r.URL.Path, "/_matrix/key/v2/server/"))
}

// forward carries a federation request to the node, or answers for it
// while it is offline.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, label string) {
	ns := s.state(label)
	if isSend(r) {
		s.forwardSend(w, r, label, ns)
		return
	}
	ns.mu.Lock()
	sess := ns.sess
	ns.mu.Unlock()
	if sess != nil {
		s.relayLive(w, r, sess, http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
		return
	}
	if s.cluster != nil && !fromCluster(r.Context()) {
		body, err := matrixhttp.ReadBody(r, s.cfg.MaxBody)
		if err != nil {
			matrixhttp.WriteError(w, r, err)
			return
		}
		if s.viaCluster(w, r, label, body, false) {
			return
		}
	}
	s.answerOffline(w, r, label)
}

// viaCluster sends the request to the instance holding the node's socket
// and reports whether it was answered (false: no instance holds it). With
// keep set, a request the holding instance did not answer (it died, or
// NATS still routed to it after it did) is left unanswered too, and false
// returned, so that the caller stores it for the node's return.
func (s *Server) viaCluster(w http.ResponseWriter, r *http.Request, label string, body []byte, keep bool) bool {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ForwardTimeout)
	defer cancel()
	resp, err := s.cluster.forward(ctx, label, r, body)
	switch {
	case errors.Is(err, errNotHeld):
		return false
	case errors.Is(err, errTooLargeForCluster):
		matrixhttp.WriteError(w, r, core.ErrTooLarge)
		return true
	case err != nil && keep && r.Context().Err() == nil:
		s.log.Warn("relay: the instance holding the node did not answer; the transaction is stored", "node", s.serverName(label), "err", err)
		return false
	case ctx.Err() != nil && r.Context().Err() == nil:
		matrixhttp.WriteError(w, r, errTimeout)
		return true
	case err != nil:
		s.log.Warn("relay: forwarding to another instance", "node", s.serverName(label), "err", err)
		matrixhttp.WriteError(w, r, errLost)
		return true
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
	return true
}

// answerOffline serves what the relay can answer for an offline node.
func (s *Server) answerOffline(w http.ResponseWriter, r *http.Request, label string) {
	node, err := s.cfg.Store.Node(r.Context(), label)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	if isServerKeys(r) && len(node.ServerKeys) > 0 {
		matrixhttp.WriteRawJSON(w, http.StatusOK, node.ServerKeys)
		return
	}
	matrixhttp.WriteError(w, r, errOffline)
}

// forwardSend delivers a transaction live when the node is connected and
// nothing is queued before it; otherwise it stores it, durably, and
// acknowledges it. A transaction that another instance holding the node
// did not answer in time is stored too: if that instance did deliver it,
// the node's transaction layer sees the replay as the same transaction.
func (s *Server) forwardSend(w http.ResponseWriter, r *http.Request, label string, ns *nodeState) {
	body, err := matrixhttp.ReadBody(r, s.cfg.MaxBody)
	if err != nil {
		matrixhttp.WriteError(w, r, err)
		return
	}
	ns.mu.Lock()
	sess, draining := ns.sess, ns.draining
	ns.mu.Unlock()
	if sess == nil && s.cluster != nil && !fromCluster(r.Context()) && s.viaCluster(w, r, label, body, true) {
		return
	}
	if sess == nil || draining {
		s.store(w, r, label, ns, body)
		return
	}
	if lost := s.relayLive(w, r, sess, bytes.NewReader(body)); lost {
		// The connection dropped, or the node did not answer in time: keep
		// the transaction for its return (the node's transaction layer is
		// idempotent if it did see it).
		s.store(w, r, label, ns, body)
	}
}

// store queues a transaction and acknowledges it the way a node would.
func (s *Server) store(w http.ResponseWriter, r *http.Request, label string, ns *nodeState, body []byte) {
	st := &Stored{Method: r.Method, Target: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
	ns.mu.Lock()
	_, err := s.cfg.Store.Enqueue(r.Context(), label, st, s.cfg.QueueQuota)
	if err == nil {
		ns.draining = true
	}
	ns.mu.Unlock()
	switch {
	case errors.Is(err, ErrQuota):
		matrixhttp.WriteError(w, r, errQuota)
		return
	case err != nil:
		s.storeError(w, r, err)
		return
	}
	s.kick(ns)
	if s.cluster != nil {
		s.cluster.kick(label)
	}
	matrixhttp.WriteRawJSON(w, http.StatusOK, []byte(`{"pdus":{}}`))
}

// relayLive forwards r over the node's connection and copies the answer.
// It reports lost when a /send got no answer, the connection having failed
// or the node not answering in time (nothing has been written to w then).
func (s *Server) relayLive(w http.ResponseWriter, r *http.Request, sess *session, body io.Reader) (lost bool) {
	wait := time.NewTimer(s.cfg.ForwardTimeout)
	defer wait.Stop()
	select {
	case sess.sem <- struct{}{}:
	case <-wait.C:
		matrixhttp.WriteError(w, r, errBusy)
		return false
	case <-r.Context().Done():
		return false
	}
	defer func() { <-sess.sem }()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var timedOut atomic.Bool
	deadline := time.AfterFunc(s.cfg.ForwardTimeout, func() { timedOut.Store(true); cancel() })
	defer deadline.Stop()
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL.RequestURI(), body)
	if err != nil {
		matrixhttp.WriteError(w, r, core.ErrUnrecognized)
		return false
	}
	req.Host = s.serverName(sess.label)
	req.Header = r.Header.Clone()
	req.Header.Del(relay.StoredHeader)
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := sess.conn.RoundTrip(req)
	// Once the answer has begun, the timeout no longer applies; the
	// caller's context does.
	if !deadline.Stop() && timedOut.Load() {
		if err == nil {
			resp.Body.Close()
		}
		if isSend(r) {
			// A node that does not answer may be asleep behind a socket
			// that has not noticed yet: keep the transaction for it.
			return true
		}
		matrixhttp.WriteError(w, r, errTimeout)
		return false
	}
	if err != nil {
		if r.Context().Err() != nil {
			return false
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			matrixhttp.WriteError(w, r, core.ErrTooLarge)
			return false
		}
		select {
		case <-sess.conn.Done():
			if isSend(r) {
				return true
			}
		default:
		}
		matrixhttp.WriteError(w, r, errLost)
		return false
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	bp := relay.CopyBuffer()
	defer relay.PutCopyBuffer(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return false
		}
	}
}
