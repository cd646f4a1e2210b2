package relayserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"hearth.dev/hearth/core/signing"
	"hearth.dev/hearth/relay"
)

// handshakeTimeout bounds the time a new socket has to authenticate.
const handshakeTimeout = 10 * time.Second

// session is a node's live, authenticated connection.
type session struct {
	label string
	conn  *relay.Conn
	sem   chan struct{}
}

// handleConnect accepts a node: challenge, hello, then the multiplexed
// connection until it closes. An unauthenticated socket gets the challenge
// and nothing else.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{relay.Subprotocol},
		// Nodes in browser tabs connect from any origin; what authenticates
		// them is the signature, never an ambient credential.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept has answered
	}
	ws.SetReadLimit(relay.MaxFrameSize)
	if ws.Subprotocol() != relay.Subprotocol {
		ws.Close(websocket.StatusPolicyViolation, "unsupported protocol version")
		return
	}
	label, reason := s.authenticate(r.Context(), ws)
	if label == "" {
		if b, err := relay.Encode(&relay.Frame{Type: relay.TypeError, Reason: reason}); err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			ws.Write(ctx, websocket.MessageBinary, b)
			cancel()
		}
		ws.CloseNow()
		s.log.Info("relay: node refused", "remote", r.RemoteAddr, "reason", reason)
		return
	}
	sess := &session{label: label, sem: make(chan struct{}, s.cfg.MaxInFlight)}
	sess.conn = relay.NewConn(ws, relay.ConnOptions{
		Relay: true, Handler: s.outboundHandler(sess), PingInterval: s.cfg.PingInterval, Logger: s.log,
	})
	ns := s.state(label)
	ns.mu.Lock()
	old := ns.sess
	ns.sess = sess
	ns.mu.Unlock()
	if old != nil {
		old.conn.Close() // the node reconnected; its old socket is dead to it
	}
	s.log.Info("relay: node connected", "node", s.serverName(label))
	if s.cluster != nil {
		if err := s.cluster.hold(label); err != nil {
			s.log.Error("relay: announcing the node on NATS", "node", s.serverName(label), "err", err)
		}
	}
	go s.afterConnect(sess, ns)
	// The socket is hijacked: this handler returns, and a fresh goroutine
	// (with a small stack, unlike this one, grown by the TLS and HTTP
	// work) reads it for as long as the node stays.
	go func() {
		err := sess.conn.Serve()
		ns.mu.Lock()
		last := ns.sess == sess
		if last {
			ns.sess = nil
		}
		ns.mu.Unlock()
		if last && s.cluster != nil {
			s.cluster.release(label)
		}
		s.log.Info("relay: node disconnected", "node", s.serverName(label), "err", err)
	}()
}

// authenticate runs the handshake and returns the node's label, or "" and
// the reason it was refused.
func (s *Server) authenticate(ctx context.Context, ws *websocket.Conn) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	nonce := make([]byte, 32)
	rand.Read(nonce)
	b, err := relay.Encode(&relay.Frame{Type: relay.TypeChallenge, Version: relay.Version, Nonce: nonce})
	if err != nil {
		return "", "internal error"
	}
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return "", "write failed"
	}
	typ, msg, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageBinary {
		return "", "no hello"
	}
	hello, err := relay.Decode(msg)
	if err != nil || hello.Type != relay.TypeHello {
		return "", "expected a hello frame"
	}
	if hello.Version != relay.Version {
		return "", fmt.Sprintf("unsupported version %d", hello.Version)
	}
	label, ok := s.label(hello.Name)
	if !ok || hello.Name != s.serverName(label) {
		return "", "the name is not under this relay's domain"
	}
	if err := relay.VerifyHello(hello, nonce); err != nil {
		return "", "bad signature"
	}
	node, err := s.cfg.Store.Node(ctx, label)
	if err != nil {
		return "", "not enrolled"
	}
	sameKey := node.KeyID == hello.KeyID && bytes.Equal(node.PublicKey, hello.Key)
	if hello.Token != "" && !sameKey {
		// First connection (or a new key after `node add` again): the
		// token binds the name to the key that signed the hello.
		if err := s.cfg.Store.Enroll(ctx, label, tokenHash(hello.Token), hello.KeyID, hello.Key, s.cfg.Now()); err != nil {
			if errors.Is(err, ErrBadToken) {
				return "", "enrollment token invalid, used or expired"
			}
			s.log.Error("relay: enrolling", "node", hello.Name, "err", err)
			return "", "internal error"
		}
		node, err = s.cfg.Store.Node(ctx, label)
		if err != nil {
			return "", "internal error"
		}
	} else if !sameKey {
		return "", "this key may not claim that name"
	}
	b, err = relay.Encode(&relay.Frame{Type: relay.TypeAck, Name: hello.Name, Queued: node.Queued})
	if err != nil {
		return "", "internal error"
	}
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return "", "write failed"
	}
	return label, ""
}

// afterConnect refreshes the relay's copy of the node's key response, then
// replays the node's queue.
func (s *Server) afterConnect(sess *session, ns *nodeState) {
	if err := s.fetchServerKeys(sess); err != nil {
		s.log.Warn("relay: node's key response not kept", "node", s.serverName(sess.label), "err", err)
	}
	s.kick(ns)
}

// fetchServerKeys asks the node for /_matrix/key/v2/server and keeps the
// answer if it is the node's own, signed by the key it proved.
func (s *Server) fetchServerKeys(sess *session) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ForwardTimeout)
	defer cancel()
	name := s.serverName(sess.label)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/_matrix/key/v2/server", nil)
	req.Host = name
	resp, err := sess.conn.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	node, err := s.cfg.Store.Node(ctx, sess.label)
	if err != nil {
		return err
	}
	if err := checkServerKeys(body, node.KeyID, node.PublicKey); err != nil {
		return err
	}
	return s.cfg.Store.SetServerKeys(ctx, sess.label, body)
}

// checkServerKeys checks that body is a key response publishing the key
// the node proved and signed by it. Its server_name is the node's own:
// NAME.DOMAIN, or the domain that delegates to it.
func checkServerKeys(body []byte, keyID string, pub []byte) error {
	var keys struct {
		ServerName string `json:"server_name"`
		VerifyKeys map[string]struct {
			Key string `json:"key"`
		} `json:"verify_keys"`
	}
	if err := json.Unmarshal(body, &keys); err != nil {
		return err
	}
	if keys.ServerName == "" {
		return errors.New("the key response has no server_name")
	}
	if keys.VerifyKeys[keyID].Key != signing.EncodeBase64(pub) {
		return fmt.Errorf("the response does not publish %s", keyID)
	}
	return signing.VerifyJSON(body, keys.ServerName, keyID, pub)
}
