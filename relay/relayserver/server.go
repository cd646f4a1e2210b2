// Package relayserver is the relay (`hearth relay`): a public server that
// answers federation traffic for many nodes named NAME.DOMAIN and carries
// it to each over the WebSocket the node opened (package relay has the wire
// format). While a node is away it stores the node's incoming /send
// transactions and replays them in order when the node returns; it answers
// the node's key requests from the node's own self-signed copy; and it
// performs the outbound federation requests of nodes that cannot reach the
// network themselves. It holds no node's keys and cannot forge anything.
//
// Importing the package registers the "sqlite3" database/sql driver.
package relayserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
	"hearth.dev/hearth/relay"
)

// Config configures a relay Server.
type Config struct {
	// Domain is the relay's domain: nodes are NAME.Domain.
	Domain string
	// Store keeps nodes, tokens and queues.
	Store Store
	// PublicPort is the port /.well-known/matrix/server names for a node
	// ("443" when empty): the port the relay is reachable on.
	PublicPort string
	// ForwardTimeout bounds the wait for a node's answer (60 s when 0);
	// beyond it the caller gets 504.
	ForwardTimeout time.Duration
	// MaxInFlight bounds the requests forwarded to one node at once (32
	// when 0); more wait, up to ForwardTimeout, then get 503.
	MaxInFlight int
	// QueueQuota bounds the bytes stored for one offline node (64 MiB when
	// 0); beyond it /send gets 503 and the sender keeps the transaction.
	QueueQuota int64
	// MaxBody bounds a forwarded request body (16 MiB when 0).
	MaxBody int64
	// TokenTTL is how long an enrollment token stays valid (24 h when 0).
	TokenTTL time.Duration
	// PingInterval is the keepalive of node connections (30 s when 0).
	PingInterval time.Duration
	// Outbound performs nodes' outbound requests; nil refuses them.
	Outbound *Outbound
	// NATS, when set, joins this instance to the others on the same NATS:
	// requests for a node whose socket another instance holds go there
	// (use the NATS store with it, so all share nodes and queues).
	NATS   *nats.Conn
	Logger *slog.Logger
	Now    func() time.Time
}

// Server is one relay instance.
type Server struct {
	cfg Config
	log *slog.Logger

	cluster *cluster // nil for a single instance

	mu    sync.Mutex
	nodes map[string]*nodeState
}

// nodeState is what the relay keeps in memory about one node.
type nodeState struct {
	mu   sync.Mutex
	sess *session
	// draining says the node's queue may hold transactions: new ones go
	// behind them, so the node sees them in arrival order.
	draining bool
	// replaying says a replay runs; again asks it to look once more.
	replaying, again bool
	backoff          time.Duration
}

// New returns a relay serving cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Domain == "" || cfg.Store == nil {
		return nil, errors.New("relay: a domain and a store are required")
	}
	cfg.Domain = strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	if cfg.PublicPort == "" {
		cfg.PublicPort = "443"
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 60 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 32
	}
	if cfg.QueueQuota <= 0 {
		cfg.QueueQuota = 64 << 20
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nodes: map[string]*nodeState{}}
	if cfg.NATS != nil {
		c, err := newCluster(cfg.NATS, s)
		if err != nil {
			return nil, fmt.Errorf("relay: joining the instances on NATS: %w", err)
		}
		s.cluster = c
	}
	return s, nil
}

// Close disconnects every node.
func (s *Server) Close() {
	if s.cluster != nil {
		s.cluster.close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ns := range s.nodes {
		ns.mu.Lock()
		if ns.sess != nil {
			ns.sess.conn.Close()
		}
		ns.mu.Unlock()
	}
}

// dropLocal closes this instance's socket of a node that connected to
// another instance.
func (s *Server) dropLocal(label string) {
	ns := s.state(label)
	ns.mu.Lock()
	sess := ns.sess
	ns.mu.Unlock()
	if sess != nil {
		sess.conn.Close()
	}
}

func (s *Server) state(label string) *nodeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.nodes[label]
	if ns == nil {
		ns = &nodeState{draining: true}
		s.nodes[label] = ns
	}
	return ns
}

// Connected reports whether the node NAME has a live connection here.
func (s *Server) Connected(label string) bool {
	ns := s.state(label)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.sess != nil
}

// ErrBadName: a node name must be one DNS label of [a-z0-9-].
var ErrBadName = errors.New("relay: a node name is one DNS label of a-z, 0-9 and '-'")

// ValidLabel reports whether name can be a node's label under the domain.
func ValidLabel(name string) bool {
	if name == "" || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// AddNode registers label (if new) and returns a new single-use enrollment
// token for it, valid for Config.TokenTTL.
func AddNode(ctx context.Context, st Store, label string, ttl time.Duration, now time.Time) (string, error) {
	if !ValidLabel(label) {
		return "", fmt.Errorf("%q: %w", label, ErrBadName)
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := "hrt_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := st.AddNode(ctx, label, tokenHash(token), now.Add(ttl)); err != nil {
		return "", err
	}
	return token, nil
}

// AddNode is the package function with the server's store, clock and TTL.
func (s *Server) AddNode(ctx context.Context, label string) (string, error) {
	return AddNode(ctx, s.cfg.Store, label, s.cfg.TokenTTL, s.cfg.Now())
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// label returns the node label of host (NAME for NAME.DOMAIN[:port]).
func (s *Server) label(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, ok := strings.CutSuffix(host, "."+s.cfg.Domain)
	if !ok || !ValidLabel(label) {
		return "", false
	}
	return label, true
}

// serverName is the Matrix server name of a node.
func (s *Server) serverName(label string) string { return label + "." + s.cfg.Domain }

var (
	errNoNode      = core.ErrNotFound.WithMessage("No node of this relay has that name")
	errMisdirected = core.ErrForbidden.WithMessage("The TLS server name does not match the Host").WithStatus(http.StatusMisdirectedRequest)
	errOffline     = core.ErrUnavailable.WithMessage("The server is offline; its relay cannot answer this request")
	errTimeout     = core.ErrUnknown.WithMessage("The server did not answer in time").WithStatus(http.StatusGatewayTimeout)
	errBusy        = core.ErrUnavailable.WithMessage("The server has too many requests in flight")
	errQuota       = core.ErrUnavailable.WithMessage("The server's relay queue is full; retry later")
	errLost        = core.ErrUnknown.WithMessage("The server's connection to its relay was lost").WithStatus(http.StatusBadGateway)
)

// ServeHTTP routes by Host (and TLS server name): node connections, the
// nodes' .well-known and their federation traffic.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == relay.ConnectPath {
		s.handleConnect(w, r)
		return
	}
	label, ok := s.label(r.Host)
	if !ok {
		matrixhttp.WriteError(w, r, errNoNode)
		return
	}
	if r.TLS != nil && r.TLS.ServerName != "" {
		if sni, ok := s.label(r.TLS.ServerName); !ok || sni != label {
			matrixhttp.WriteError(w, r, errMisdirected)
			return
		}
	}
	switch {
	case r.URL.Path == "/.well-known/matrix/server" && r.Method == http.MethodGet:
		if _, err := s.cfg.Store.Node(r.Context(), label); err != nil {
			s.storeError(w, r, err)
			return
		}
		matrixhttp.WriteJSON(w, http.StatusOK, map[string]string{"m.server": s.serverName(label) + ":" + s.cfg.PublicPort})
	case strings.HasPrefix(r.URL.Path, "/_matrix/federation/"), strings.HasPrefix(r.URL.Path, "/_matrix/key/"),
		strings.HasPrefix(r.URL.Path, "/_matrix/media/"):
		s.forward(w, r, label)
	default:
		matrixhttp.WriteError(w, r, core.ErrUnrecognized)
	}
}

func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNoNode) {
		matrixhttp.WriteError(w, r, errNoNode)
		return
	}
	matrixhttp.WriteError(w, r, err)
}
