package relayserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// cluster joins relay instances over NATS: the instance holding a node's
// socket answers requests for it on "hearth.relay.node.NAME" (a queue
// group, so one instance answers), which the others send with NATS
// request-reply; "hearth.relay.drop.NAME" tells an instance that the node
// has connected elsewhere; "hearth.relay.kick.NAME" that its queue grew.
type cluster struct {
	nc  *nats.Conn
	id  string
	srv *Server

	mu   sync.Mutex
	held map[string]*nats.Subscription
	subs []*nats.Subscription
}

const (
	natsNodeSubject = "hearth.relay.node."
	natsDropSubject = "hearth.relay.drop."
	natsKickSubject = "hearth.relay.kick."
	natsStatus      = "Hearth-Status"
	// natsOverhead is room left in a NATS message for the headers.
	natsOverhead = 64 << 10
)

// errNotHeld: no instance holds the node's socket.
var errNotHeld = errors.New("relay: no instance holds the node")

func newCluster(nc *nats.Conn, srv *Server) (*cluster, error) {
	id := make([]byte, 8)
	rand.Read(id)
	c := &cluster{nc: nc, id: hex.EncodeToString(id), srv: srv, held: map[string]*nats.Subscription{}}
	drop, err := nc.Subscribe(natsDropSubject+"*", func(m *nats.Msg) {
		if string(m.Data) != c.id {
			srv.dropLocal(strings.TrimPrefix(m.Subject, natsDropSubject))
		}
	})
	if err != nil {
		return nil, err
	}
	kick, err := nc.Subscribe(natsKickSubject+"*", func(m *nats.Msg) {
		srv.kick(srv.state(strings.TrimPrefix(m.Subject, natsKickSubject)))
	})
	if err != nil {
		drop.Unsubscribe()
		return nil, err
	}
	c.subs = []*nats.Subscription{drop, kick}
	return c, nil
}

func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		s.Unsubscribe()
	}
	for _, s := range c.held {
		s.Unsubscribe()
	}
	c.held = map[string]*nats.Subscription{}
}

// hold routes requests for label to this instance and tells the others to
// drop a socket they may still keep for it.
func (c *cluster) hold(label string) error {
	sub, err := c.nc.QueueSubscribe(natsNodeSubject+label, "holder", func(m *nats.Msg) { go c.serve(label, m) })
	if err != nil {
		return err
	}
	c.mu.Lock()
	if old := c.held[label]; old != nil {
		old.Unsubscribe()
	}
	c.held[label] = sub
	c.mu.Unlock()
	c.nc.Publish(natsDropSubject+label, []byte(c.id))
	return c.nc.Flush()
}

// release stops routing requests for label here.
func (c *cluster) release(label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.held[label]; s != nil {
		s.Unsubscribe()
		delete(c.held, label)
	}
}

func (c *cluster) kick(label string) { c.nc.Publish(natsKickSubject+label, nil) }

// forward sends a request for label to the instance holding its socket.
func (c *cluster) forward(ctx context.Context, label string, r *http.Request, body []byte) (*http.Response, error) {
	if int64(len(body)) > c.nc.MaxPayload()-natsOverhead {
		return nil, errTooLargeForCluster
	}
	m := &nats.Msg{Subject: natsNodeSubject + label, Data: body, Header: nats.Header{}}
	for k, v := range r.Header {
		m.Header[k] = v
	}
	m.Header.Set(natsMethod, r.Method)
	m.Header.Set(natsTarget, r.URL.RequestURI())
	reply, err := c.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, errNotHeld
	}
	if err != nil {
		return nil, err
	}
	status, err := strconv.Atoi(reply.Header.Get(natsStatus))
	if err != nil || status < 100 || status > 599 {
		return nil, fmt.Errorf("relay: bad reply from the holding instance")
	}
	resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(reply.Data)),
		ContentLength: int64(len(reply.Data))}
	for k, v := range reply.Header {
		if k != natsStatus {
			resp.Header[k] = v
		}
	}
	return resp, nil
}

var errTooLargeForCluster = errors.New("relay: request too large to pass between instances")

type clusterKey struct{}

// fromCluster reports whether the request came from another instance
// (and must not be sent on again).
func fromCluster(ctx context.Context) bool { return ctx.Value(clusterKey{}) != nil }

// serve answers a request another instance sent for a node held here.
func (c *cluster) serve(label string, m *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), clusterKey{}, true), c.srv.cfg.ForwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, m.Header.Get(natsMethod), m.Header.Get(natsTarget), bytes.NewReader(m.Data))
	rec := &bufferedResponse{header: http.Header{}}
	if err != nil {
		rec.status = http.StatusBadRequest
	} else {
		for k, v := range m.Header {
			if k != natsMethod && k != natsTarget {
				req.Header[k] = v
			}
		}
		req.Host = c.srv.serverName(label)
		req.RemoteAddr = "relay-instance"
		c.srv.forward(rec, req, label)
	}
	out := &nats.Msg{Header: nats.Header{}, Data: rec.body.Bytes()}
	for k, v := range rec.header {
		out.Header[k] = v
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if int64(len(out.Data)) > c.nc.MaxPayload()-natsOverhead {
		out.Header = nats.Header{"Content-Type": {"application/json"}}
		out.Data = []byte(`{"errcode":"M_UNKNOWN","error":"The answer is too large to pass between relay instances"}`)
		rec.status = http.StatusBadGateway
	}
	out.Header.Set(natsStatus, strconv.Itoa(rec.status))
	m.RespondMsg(out)
}

// bufferedResponse is an http.ResponseWriter kept in memory.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
