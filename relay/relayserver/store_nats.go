package relayserver

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is the Store of several relay instances sharing NATS JetStream: the
// node registry and the enrollment tokens are key-value buckets, and each
// node's offline queue is a stream of its own, bounded by the node's quota.
type NATS struct {
	js     jetstream.JetStream
	nodes  jetstream.KeyValue
	tokens jetstream.KeyValue

	mu      sync.Mutex
	streams map[string]jetstream.Stream
}

var _ Store = (*NATS)(nil)

const (
	natsNodesBucket  = "hearth_relay_nodes"
	natsTokensBucket = "hearth_relay_tokens"
	natsQueueSubject = "hearth.relay.queue."
	natsQueueStream  = "HEARTH_RELAY_QUEUE_"
	// The headers a stored request travels with inside its stream message.
	natsMethod = "Hearth-Method"
	natsTarget = "Hearth-Target"
	natsHeader = "Hearth-Header"
)

// OpenNATS uses (creating if needed) the relay's buckets on nc's JetStream.
func OpenNATS(ctx context.Context, nc *nats.Conn) (*NATS, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	nodes, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsNodesBucket, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("relay: NATS bucket %s: %w", natsNodesBucket, err)
	}
	tokens, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsTokensBucket, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("relay: NATS bucket %s: %w", natsTokensBucket, err)
	}
	return &NATS{js: js, nodes: nodes, tokens: tokens, streams: map[string]jetstream.Stream{}}, nil
}

// Close does nothing: the NATS connection belongs to the caller.
func (s *NATS) Close() error { return nil }

// natsNode is a node's record in the nodes bucket.
type natsNode struct {
	KeyID      string `json:"key_id,omitempty"`
	PublicKey  []byte `json:"public_key,omitempty"`
	EnrolledMS int64  `json:"enrolled_ms,omitempty"`
	ServerKeys []byte `json:"server_keys,omitempty"`
}

type natsToken struct {
	Name      string `json:"name"`
	ExpiresMS int64  `json:"expires_ms"`
}

func (s *NATS) AddNode(ctx context.Context, name string, tokenHash []byte, expires time.Time) error {
	if _, err := s.nodes.Create(ctx, name, []byte("{}")); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	b, _ := json.Marshal(natsToken{Name: name, ExpiresMS: expires.UnixMilli()})
	_, err := s.tokens.Put(ctx, hex.EncodeToString(tokenHash), b)
	return err
}

func (s *NATS) record(ctx context.Context, name string) (natsNode, uint64, error) {
	e, err := s.nodes.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return natsNode{}, 0, ErrNoNode
	}
	if err != nil {
		return natsNode{}, 0, err
	}
	var n natsNode
	if err := json.Unmarshal(e.Value(), &n); err != nil {
		return natsNode{}, 0, fmt.Errorf("relay: node %s: %w", name, err)
	}
	return n, e.Revision(), nil
}

func (s *NATS) Node(ctx context.Context, name string) (Node, error) {
	rec, _, err := s.record(ctx, name)
	if err != nil {
		return Node{}, err
	}
	n := Node{Name: name, KeyID: rec.KeyID, PublicKey: rec.PublicKey, ServerKeys: rec.ServerKeys}
	if rec.EnrolledMS > 0 {
		n.Enrolled = time.UnixMilli(rec.EnrolledMS)
	}
	if st, err := s.js.Stream(ctx, natsQueueStream+name); err == nil {
		if info, err := st.Info(ctx); err == nil {
			n.Queued, n.QueueBytes = int(info.State.Msgs), int64(info.State.Bytes)
		}
	}
	return n, nil
}

func (s *NATS) Nodes(ctx context.Context) ([]Node, error) {
	lister, err := s.nodes.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	var out []Node
	for _, name := range names {
		n, err := s.Node(ctx, name)
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (s *NATS) RemoveNode(ctx context.Context, name string) error {
	if _, _, err := s.record(ctx, name); err != nil {
		return err
	}
	if err := s.nodes.Delete(ctx, name); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.streams, name)
	s.mu.Unlock()
	if err := s.js.DeleteStream(ctx, natsQueueStream+name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	return nil
}

func (s *NATS) Enroll(ctx context.Context, name string, tokenHash []byte, keyID string, pub []byte, now time.Time) error {
	key := hex.EncodeToString(tokenHash)
	e, err := s.tokens.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ErrBadToken
	}
	if err != nil {
		return err
	}
	var tok natsToken
	if json.Unmarshal(e.Value(), &tok) != nil || subtle.ConstantTimeCompare([]byte(tok.Name), []byte(name)) != 1 ||
		now.UnixMilli() >= tok.ExpiresMS {
		return ErrBadToken
	}
	// Deleting at the revision read makes the token single-use across
	// instances: of two enrollments racing, one delete fails.
	if err := s.tokens.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return ErrBadToken
	}
	if _, _, err := s.record(ctx, name); err != nil {
		return err
	}
	b, _ := json.Marshal(natsNode{KeyID: keyID, PublicKey: pub, EnrolledMS: now.UnixMilli()})
	_, err = s.nodes.Put(ctx, name, b)
	return err
}

func (s *NATS) SetServerKeys(ctx context.Context, name string, body []byte) error {
	rec, rev, err := s.record(ctx, name)
	if err != nil {
		return err
	}
	rec.ServerKeys = body
	b, _ := json.Marshal(rec)
	_, err = s.nodes.Update(ctx, name, b, rev)
	return err
}

// stream returns the node's queue stream, creating it bounded by quota.
func (s *NATS) stream(ctx context.Context, name string, quota int64) (jetstream.Stream, error) {
	s.mu.Lock()
	st := s.streams[name]
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	var err error
	if quota > 0 {
		st, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: natsQueueStream + name, Subjects: []string{natsQueueSubject + name},
			Storage: jetstream.FileStorage, MaxBytes: quota, Discard: jetstream.DiscardNew,
		})
	} else {
		st, err = s.js.Stream(ctx, natsQueueStream+name)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.streams[name] = st
	s.mu.Unlock()
	return st, nil
}

func (s *NATS) Enqueue(ctx context.Context, name string, st *Stored, quota int64) (int64, error) {
	if _, _, err := s.record(ctx, name); err != nil {
		return 0, err
	}
	if _, err := s.stream(ctx, name, quota); err != nil {
		return 0, err
	}
	header, err := json.Marshal(st.Header)
	if err != nil {
		return 0, err
	}
	msg := &nats.Msg{Subject: natsQueueSubject + name, Data: st.Body, Header: nats.Header{}}
	msg.Header.Set(natsMethod, st.Method)
	msg.Header.Set(natsTarget, st.Target)
	msg.Header.Set(natsHeader, string(header))
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		if strings.Contains(err.Error(), "maximum bytes exceeded") {
			return 0, ErrQuota
		}
		return 0, err
	}
	return int64(ack.Sequence), nil
}

func (s *NATS) Next(ctx context.Context, name string) (*Stored, error) {
	st, err := s.stream(ctx, name, 0)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(natsQueueSubject+name))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := &Stored{Seq: int64(m.Sequence), Method: m.Header.Get(natsMethod), Target: m.Header.Get(natsTarget), Body: m.Data}
	if err := json.Unmarshal([]byte(m.Header.Get(natsHeader)), &out.Header); err != nil {
		return nil, fmt.Errorf("relay queue %d: header: %w", m.Sequence, err)
	}
	if out.Header == nil {
		out.Header = http.Header{}
	}
	return out, nil
}

func (s *NATS) Dequeue(ctx context.Context, name string, seq int64) error {
	st, err := s.stream(ctx, name, 0)
	if err != nil {
		return err
	}
	if err := st.DeleteMsg(ctx, uint64(seq)); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	return nil
}

// OpenNATSNode reads one node's record and queue from the NATS store on
// nc (for tools and tests).
func OpenNATSNode(nc *nats.Conn, name string) (Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenNATS(ctx, nc)
	if err != nil {
		return Node{}, err
	}
	return s.Node(ctx, name)
}
