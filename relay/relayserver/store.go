package relayserver

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Node is one enrolled node: a name under the relay's domain bound to the
// server key that proved it.
type Node struct {
	Name      string // the label: "alice" for alice.DOMAIN
	KeyID     string // "" until the node's first connection
	PublicKey []byte
	Enrolled  time.Time
	// ServerKeys is the node's own self-signed /_matrix/key/v2/server
	// response, served while the node is offline.
	ServerKeys []byte
	Queued     int   // stored transactions
	QueueBytes int64 // their size
}

// Stored is one request kept for an offline node.
type Stored struct {
	Seq    int64
	Method string
	Target string
	Header http.Header
	Body   []byte
}

// Size is what a stored request counts against the node's quota.
func (s *Stored) Size() int64 {
	n := int64(len(s.Body) + len(s.Method) + len(s.Target))
	for k, vs := range s.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

// Errors of the Store.
var (
	// ErrNoNode: the name is not enrolled.
	ErrNoNode = errors.New("relay: no such node")
	// ErrBadToken: the token is unknown, used, expired or for another name.
	ErrBadToken = errors.New("relay: enrollment token invalid, used or expired")
	// ErrQuota: storing the request would put the node over its quota.
	ErrQuota = errors.New("relay: the node's queue is full")
)

// Store keeps the relay's state: the node registry with keys, enrollment
// tokens and the offline queues. SQLite implements it for one instance.
type Store interface {
	// AddNode registers name (if new) and adds an enrollment token for it,
	// identified by its SHA-256 tokenHash, valid until expires.
	AddNode(ctx context.Context, name string, tokenHash []byte, expires time.Time) error
	// Node returns the node, or ErrNoNode.
	Node(ctx context.Context, name string) (Node, error)
	// Nodes lists every node by name.
	Nodes(ctx context.Context) ([]Node, error)
	// RemoveNode forgets the node, its tokens and its queue; ErrNoNode if
	// there is none.
	RemoveNode(ctx context.Context, name string) error
	// Enroll consumes the token (ErrBadToken unless unused, unexpired and
	// for name) and binds name to the key, in one transaction.
	Enroll(ctx context.Context, name string, tokenHash []byte, keyID string, pub []byte, now time.Time) error
	// SetServerKeys keeps the node's self-signed key response.
	SetServerKeys(ctx context.Context, name string, body []byte) error
	// Enqueue appends s to the node's queue and returns its sequence
	// number; ErrQuota if the queue would exceed quota bytes.
	Enqueue(ctx context.Context, name string, s *Stored, quota int64) (int64, error)
	// Next returns the oldest stored request of the node, or nil.
	Next(ctx context.Context, name string) (*Stored, error)
	// Dequeue removes a delivered request.
	Dequeue(ctx context.Context, name string, seq int64) error
	Close() error
}
