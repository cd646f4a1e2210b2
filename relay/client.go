package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"hearth.dev/hearth/core/signing"
)

// ClientOptions configure a node's relay client.
type ClientOptions struct {
	// URL is the relay's connect URL, wss://RELAY/_hearth/relay/v1/connect.
	URL string
	// Token is the enrollment token; needed on the first connection only.
	Token string
	// ServerName is the node's server name: NAME.DOMAIN of the relay, or
	// its own domain whose .well-known delegates to NAME.DOMAIN.
	ServerName string
	// RelayName is NAME.DOMAIN when ServerName is a delegating domain
	// (empty: ServerName).
	RelayName string
	// Key is the node's server signing key.
	Key signing.Key
	// Handler is the node's federation handler; it answers the requests
	// the relay forwards. Only federation, key and media paths reach it.
	Handler http.Handler
	// HTTPClient dials the relay (native only: a test CA, a resolver);
	// nil uses http.DefaultClient. The browser uses its own WebSocket and
	// has no such client (DialClient is empty there).
	HTTPClient DialClient
	// PingInterval is the keepalive (30 s when 0).
	PingInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections
	// (1 s and 1 min when 0); each wait is jittered.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// The states of a Client.
const (
	StateOff        = "off"
	StateConnecting = "connecting"
	StateConnected  = "connected"
)

// Status is what a Client reports: its state, and how many stored
// transactions the relay still had to replay.
type Status struct {
	State  string `json:"state"`
	Queued int    `json:"queued"`
}

// ErrNotConnected is returned by RoundTrip while the client has no
// connection to its relay.
var ErrNotConnected = errors.New("relay: not connected to the relay")

// StoredHeader marks a request the relay stored while the node was away.
const StoredHeader = "Hearth-Relay-Stored"

// Client keeps a node connected to its relay: it dials out, proves the
// server key, serves the relay's requests with the node's handler,
// reconnects with backoff and jitter, and sends the node's outbound
// requests (RoundTrip) as frames.
type Client struct {
	opts ClientOptions

	mu     sync.Mutex
	state  string
	conn   *Conn
	queued atomic.Int64
}

// NewClient returns a client; Run connects it.
func NewClient(o ClientOptions) (*Client, error) {
	if o.URL == "" || o.ServerName == "" || o.Key.Private == nil || o.Handler == nil {
		return nil, errors.New("relay: a client needs a URL, a server name, a key and a handler")
	}
	if !strings.HasPrefix(o.URL, "wss://") && !strings.HasPrefix(o.URL, "ws://") {
		return nil, fmt.Errorf("relay: url %q is not a ws:// or wss:// URL", o.URL)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Client{opts: o, state: StateOff}, nil
}

// Status returns the connection's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{State: c.state, Queued: int(max(0, c.queued.Load()))}
}

func (c *Client) setState(s string, conn *Conn) {
	c.mu.Lock()
	c.state, c.conn = s, conn
	c.mu.Unlock()
}

// Run keeps the node connected until ctx ends.
func (c *Client) Run(ctx context.Context) {
	backoff := c.opts.MinBackoff
	for ctx.Err() == nil {
		c.setState(StateConnecting, nil)
		connected, err := c.connectOnce(ctx)
		c.setState(StateConnecting, nil)
		if ctx.Err() != nil {
			break
		}
		if connected {
			backoff = c.opts.MinBackoff
		}
		c.opts.Logger.Warn("relay: connection to the relay ended; reconnecting", "url", c.opts.URL, "err", err)
		// Full jitter over [backoff/2, backoff): nodes dropped together do
		// not come back together.
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, c.opts.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	c.setState(StateOff, nil)
}

// connectOnce dials, authenticates and serves one connection. connected
// says whether the handshake succeeded.
func (c *Client) connectOnce(ctx context.Context) (connected bool, _ error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, c.opts.URL, dialOptions(c.opts))
	if err != nil {
		return false, err
	}
	ws.SetReadLimit(MaxFrameSize)
	ack, err := c.handshake(dctx, ws)
	if err != nil {
		ws.CloseNow()
		return false, err
	}
	c.queued.Store(int64(ack.Queued))
	conn := NewConn(ws, ConnOptions{Handler: http.HandlerFunc(c.serve), PingInterval: c.opts.PingInterval, Logger: c.opts.Logger})
	c.setState(StateConnected, conn)
	c.opts.Logger.Info("relay: connected", "url", c.opts.URL, "name", ack.Name, "queued", ack.Queued)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	return true, conn.Serve()
}

func (c *Client) handshake(ctx context.Context, ws *websocket.Conn) (*Frame, error) {
	read := func() (*Frame, error) {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			return nil, fmt.Errorf("%w: text message", ErrBadFrame)
		}
		return Decode(b)
	}
	ch, err := read()
	if err != nil {
		return nil, err
	}
	name := c.opts.RelayName
	if name == "" {
		name = c.opts.ServerName
	}
	hello, err := NewHello(ch, name, c.opts.Key, c.opts.Token)
	if err != nil {
		return nil, err
	}
	b, err := Encode(hello)
	if err != nil {
		return nil, err
	}
	if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return nil, err
	}
	ack, err := read()
	if err != nil {
		return nil, err
	}
	switch ack.Type {
	case TypeAck:
		return ack, nil
	case TypeError:
		return nil, fmt.Errorf("relay: refused: %s", ack.Reason)
	}
	return nil, fmt.Errorf("%w: expected an ack, got %s", ErrBadFrame, ack.Type)
}

// serve hands the relay's requests to the node's handler, federation
// paths only.
func (c *Client) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/_matrix/federation/") && !strings.HasPrefix(p, "/_matrix/key/") &&
		!strings.HasPrefix(p, "/_matrix/media/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`))
		return
	}
	if r.Header.Get(StoredHeader) != "" {
		r.Header.Del(StoredHeader)
		defer c.queued.Add(-1)
	}
	c.opts.Handler.ServeHTTP(w, r)
}

// RoundTrip sends one of the node's outbound requests through the relay,
// which performs it. req's URL host (matrix-federation://NAME/...) or Host
// is the destination.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrNotConnected
	}
	return conn.RoundTrip(req)
}
