package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ErrClosed is returned by requests on a connection that has closed.
var ErrClosed = errors.New("relay: connection closed")

// streamBuffer is how many frames of one stream wait for their reader
// before the connection's reader blocks (backpressure to the sender
// through the socket).
const streamBuffer = 16

// ConnOptions configure a Conn.
type ConnOptions struct {
	// Relay is true on the relay's end (even stream ids), false on the
	// node's (odd ids).
	Relay bool
	// Handler serves the peer's requests; nil answers them 404.
	Handler http.Handler
	// MaxIncoming bounds the peer's requests served at once; beyond it they
	// are answered 503 at once. 0 means 64.
	MaxIncoming int
	// PingInterval is how often a ping is sent; a connection that receives
	// nothing for three intervals is closed. 0 means 30 s; negative: none.
	PingInterval time.Duration
	// WriteTimeout bounds one frame's write. 0 means 30 s.
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// Conn is an authenticated relay socket: requests both ways, multiplexed
// by stream id. It is an http.RoundTripper for the requests this side
// sends; the peer's requests go to ConnOptions.Handler.
type Conn struct {
	ws     *websocket.Conn
	opts   ConnOptions
	ctx    context.Context
	cancel context.CancelFunc
	nextID atomic.Uint64
	recv   atomic.Int64 // unix nanos of the last frame received
	ping   *time.Timer

	mu       sync.Mutex
	streams  map[uint64]*stream   // this side's requests
	incoming map[uint64]*incoming // the peer's requests being served
}

type stream struct {
	ch   chan *Frame
	done chan struct{}
	once sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

type incoming struct {
	cancel context.CancelFunc
	body   *stream // nil when the body came whole
}

// NewConn wraps an authenticated socket. Call Serve to read from it.
func NewConn(ws *websocket.Conn, o ConnOptions) *Conn {
	if o.MaxIncoming <= 0 {
		o.MaxIncoming = 64
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ws.SetReadLimit(MaxFrameSize)
	c := &Conn{ws: ws, opts: o, streams: map[uint64]*stream{}, incoming: map[uint64]*incoming{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if o.Relay {
		c.nextID.Store(0)
	} else {
		c.nextID.Store(1)
	}
	c.recv.Store(time.Now().UnixNano())
	if o.PingInterval > 0 {
		c.ping = time.AfterFunc(o.PingInterval, c.keepalive)
	}
	return c
}

// Done is closed when the connection has closed.
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Close closes the connection; requests in flight fail with ErrClosed.
func (c *Conn) Close() error {
	c.cancel()
	if c.ping != nil {
		c.ping.Stop()
	}
	return c.ws.CloseNow()
}

// keepalive sends a ping, or closes a connection silent for three
// intervals. It runs on a timer, so an idle connection costs no goroutine.
func (c *Conn) keepalive() {
	if c.ctx.Err() != nil {
		return
	}
	if time.Since(time.Unix(0, c.recv.Load())) > 3*c.opts.PingInterval {
		c.opts.Logger.Info("relay: peer silent, closing the connection")
		c.Close()
		return
	}
	if err := c.send(&Frame{Type: TypePing}); err != nil {
		c.Close()
		return
	}
	c.ping.Reset(c.opts.PingInterval)
}

// Ping sends a ping frame (the answer only refreshes liveness).
func (c *Conn) Ping() error { return c.send(&Frame{Type: TypePing}) }

func (c *Conn) send(f *Frame) error {
	b, err := Encode(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("relay: writing a %s frame: %w", f.Type, err)
	}
	return nil
}

// mine reports whether stream id was opened by this side.
func (c *Conn) mine(id uint64) bool { return (id%2 == 0) == c.opts.Relay }

// Serve reads frames until the socket closes, and returns why. It closes
// the connection before returning.
func (c *Conn) Serve() error {
	defer c.Close()
	defer c.failAll()
	for {
		typ, b, err := c.ws.Read(c.ctx)
		if err != nil {
			if c.ctx.Err() != nil {
				return ErrClosed
			}
			return err
		}
		c.recv.Store(time.Now().UnixNano())
		if typ != websocket.MessageBinary {
			return fmt.Errorf("%w: text message", ErrBadFrame)
		}
		f, err := Decode(b)
		if err != nil {
			c.send(&Frame{Type: TypeError, Reason: "bad frame"})
			return err
		}
		if err := c.dispatch(f); err != nil {
			return err
		}
	}
}

func (c *Conn) failAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.streams {
		s.close()
		delete(c.streams, id)
	}
	for id, in := range c.incoming {
		in.cancel()
		if in.body != nil {
			in.body.close()
		}
		delete(c.incoming, id)
	}
}

func (c *Conn) dispatch(f *Frame) error {
	switch f.Type {
	case TypePing:
		return c.send(&Frame{Type: TypePong})
	case TypePong:
		return nil
	case TypeError:
		return fmt.Errorf("relay: the peer closed the connection: %s", f.Reason)
	case TypeRequest:
		if c.mine(f.ID) {
			return fmt.Errorf("%w: request with one of our stream ids", ErrBadFrame)
		}
		c.startIncoming(f)
		return nil
	case TypeResponse, TypeChunk, TypeCancel:
		if c.mine(f.ID) {
			c.mu.Lock()
			s := c.streams[f.ID]
			c.mu.Unlock()
			if s != nil {
				c.deliver(s, f)
			}
			return nil
		}
		c.mu.Lock()
		in := c.incoming[f.ID]
		c.mu.Unlock()
		if in == nil {
			return nil // a stream already finished or cancelled
		}
		switch f.Type {
		case TypeCancel:
			in.cancel()
		case TypeChunk:
			if in.body != nil {
				c.deliver(in.body, f)
			}
		default:
			return fmt.Errorf("%w: response to a request of the peer's", ErrBadFrame)
		}
		return nil
	}
	return fmt.Errorf("%w: unexpected %s frame", ErrBadFrame, f.Type)
}

// StallTimeout bounds how long the connection's reader waits for a stream
// whose buffer is full (its reader is slow: a remote server reading a
// large answer slowly). Beyond it the stream is cancelled, so one slow
// stream never holds the whole connection for long.
var StallTimeout = 10 * time.Second

// deliver hands f to a stream's reader; while the stream's buffer is full
// it waits, at most StallTimeout, then cancels the stream.
func (c *Conn) deliver(s *stream, f *Frame) {
	select {
	case s.ch <- f:
		return
	case <-s.done:
		return
	default:
	}
	t := time.NewTimer(StallTimeout)
	defer t.Stop()
	select {
	case s.ch <- f:
	case <-s.done:
	case <-c.ctx.Done():
	case <-t.C:
		c.opts.Logger.Warn("relay: a stream's reader is too slow; cancelling it", "id", f.ID)
		s.close()
		c.mu.Lock()
		if in := c.incoming[f.ID]; in != nil && !c.mine(f.ID) {
			in.cancel()
		}
		delete(c.streams, f.ID)
		c.mu.Unlock()
		c.send(&Frame{Type: TypeCancel, ID: f.ID, Reason: "reader too slow"})
	}
}

// RoundTrip sends req to the peer and returns its answer; the response body
// streams as its chunks arrive. req.Host (or req.URL.Host) travels as the
// frame's host; only the request-target of req.URL is sent.
func (c *Conn) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	id := c.nextID.Add(2)
	s := &stream{ch: make(chan *Frame, streamBuffer), done: make(chan struct{})}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.streams[id] = s
	c.mu.Unlock()
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	f := &Frame{Type: TypeRequest, ID: id, Method: req.Method, Target: req.URL.RequestURI(), Host: host,
		Header: cleanHeader(req.Header)}
	if err := c.sendBody(f, req.Body); err != nil {
		c.abandon(id, s, true)
		return nil, err
	}
	select {
	case rf := <-s.ch:
		switch rf.Type {
		case TypeResponse:
		case TypeCancel:
			c.abandon(id, s, false)
			return nil, fmt.Errorf("relay: the peer cancelled the request: %s", rf.Reason)
		default:
			c.abandon(id, s, true)
			return nil, fmt.Errorf("%w: %s before the response", ErrBadFrame, rf.Type)
		}
		resp := &http.Response{
			Status: fmt.Sprintf("%d %s", rf.Status, http.StatusText(rf.Status)), StatusCode: rf.Status,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header(rf.Header), Request: req, ContentLength: -1,
		}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		if rf.More {
			resp.Body = &streamBody{c: c, id: id, s: s, ctx: ctx, buf: rf.Body}
		} else {
			c.abandon(id, s, false)
			resp.Body = io.NopCloser(bytes.NewReader(rf.Body))
			resp.ContentLength = int64(len(rf.Body))
		}
		return resp, nil
	case <-ctx.Done():
		c.abandon(id, s, true)
		return nil, ctx.Err()
	case <-s.done:
		c.abandon(id, s, false)
		return nil, ErrClosed
	}
}

// sendBody sends f with the first part of body, then the rest as chunks.
func (c *Conn) sendBody(f *Frame, body io.Reader) error {
	if body == nil || body == http.NoBody {
		return c.send(f)
	}
	if rc, ok := body.(io.Closer); ok {
		defer rc.Close()
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	for first := true; ; first = false {
		n, err := io.ReadFull(body, buf)
		last := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !last {
			return fmt.Errorf("relay: reading the body: %w", err)
		}
		part := &Frame{Type: TypeChunk, ID: f.ID}
		if first {
			part = f
		}
		part.Body, part.More = buf[:n], !last
		if err := c.send(part); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// chunkPool holds the buffers bodies are cut into chunks with.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// CopyBuffer returns a ChunkSize buffer for copying bodies; give it back
// with PutCopyBuffer.
func CopyBuffer() *[]byte { return chunkPool.Get().(*[]byte) }

// PutCopyBuffer returns a buffer from CopyBuffer.
func PutCopyBuffer(b *[]byte) { chunkPool.Put(b) }

// abandon forgets stream id; cancel tells the peer to stop working on it.
func (c *Conn) abandon(id uint64, s *stream, cancel bool) {
	c.mu.Lock()
	_, live := c.streams[id]
	delete(c.streams, id)
	c.mu.Unlock()
	s.close()
	if cancel && live {
		c.send(&Frame{Type: TypeCancel, ID: id, Reason: "cancelled"})
	}
}

// streamBody reads a response body from its chunk frames.
type streamBody struct {
	c    *Conn
	id   uint64
	s    *stream
	ctx  context.Context
	buf  []byte
	eof  bool
	err  error
	done bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		if b.err != nil {
			return 0, b.err
		}
		select {
		case f := <-b.s.ch:
			switch f.Type {
			case TypeChunk:
				b.buf = f.Body
				if !f.More {
					b.eof = true
					b.finish(false)
				}
			case TypeCancel:
				b.err = fmt.Errorf("relay: the peer cancelled the response: %s", f.Reason)
				b.finish(false)
			default:
				b.err = fmt.Errorf("%w: %s inside a response body", ErrBadFrame, f.Type)
				b.finish(true)
			}
		case <-b.ctx.Done():
			b.err = b.ctx.Err()
			b.finish(true)
		case <-b.s.done:
			b.err = io.ErrUnexpectedEOF
			b.finish(false)
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *streamBody) finish(cancel bool) {
	if !b.done {
		b.done = true
		b.c.abandon(b.id, b.s, cancel)
	}
}

func (b *streamBody) Close() error {
	if !b.eof && b.err == nil {
		b.err = errors.New("relay: body closed")
		b.finish(true)
	}
	return nil
}

// startIncoming serves one of the peer's requests on its own goroutine.
func (c *Conn) startIncoming(f *Frame) {
	ctx, cancel := context.WithCancel(c.ctx)
	in := &incoming{cancel: cancel}
	var body io.ReadCloser = io.NopCloser(bytes.NewReader(f.Body))
	if f.More {
		in.body = &stream{ch: make(chan *Frame, streamBuffer), done: make(chan struct{})}
		body = &chunkReader{s: in.body, ctx: ctx, buf: f.Body}
	}
	c.mu.Lock()
	busy := len(c.incoming) >= c.opts.MaxIncoming
	if !busy {
		c.incoming[f.ID] = in
	}
	c.mu.Unlock()
	if busy {
		cancel()
		c.send(&Frame{Type: TypeResponse, ID: f.ID, Status: http.StatusServiceUnavailable,
			Header: map[string][]string{"Content-Type": {"application/json"}},
			Body:   []byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests in flight"}`)})
		return
	}
	go c.serveIncoming(ctx, f, in, body)
}

func (c *Conn) serveIncoming(ctx context.Context, f *Frame, in *incoming, body io.ReadCloser) {
	w := &frameWriter{c: c, id: f.ID, header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			c.opts.Logger.Error("relay: handler panicked", "method", f.Method, "target", f.Target, "panic", p)
			if !w.sent {
				w.header = http.Header{"Content-Type": {"application/json"}}
				w.status, w.buf = http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"Internal server error"}`)
			} else {
				w.failed = true
				c.send(&Frame{Type: TypeCancel, ID: f.ID, Reason: "handler failed"})
			}
		}
		if !w.failed {
			w.finish()
		}
		c.mu.Lock()
		delete(c.incoming, f.ID)
		c.mu.Unlock()
		in.cancel()
		if in.body != nil {
			in.body.close()
		}
	}()
	u, err := url.ParseRequestURI(f.Target)
	h := c.opts.Handler
	if err != nil || h == nil {
		w.header.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`))
		return
	}
	req := (&http.Request{
		Method: f.Method, URL: u, RequestURI: f.Target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header(f.Header), Body: body, Host: f.Host, RemoteAddr: "relay",
		ContentLength: -1,
	}).WithContext(ctx)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if !f.More {
		req.ContentLength = int64(len(f.Body))
	}
	h.ServeHTTP(w, req)
}

// chunkReader reads a request body from its chunk frames.
type chunkReader struct {
	s   *stream
	ctx context.Context
	buf []byte
	eof bool
	err error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if r.err != nil {
			return 0, r.err
		}
		select {
		case f := <-r.s.ch:
			r.buf, r.eof = f.Body, !f.More
		case <-r.ctx.Done():
			r.err = r.ctx.Err()
		case <-r.s.done:
			r.err = io.ErrUnexpectedEOF
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) Close() error { return nil }

// frameWriter is the http.ResponseWriter of a peer's request: it sends the
// response frame once ChunkSize bytes are buffered or the handler returns,
// and chunk frames after it.
type frameWriter struct {
	c      *Conn
	id     uint64
	header http.Header
	status int
	buf    []byte
	sent   bool
	failed bool
}

func (w *frameWriter) Header() http.Header { return w.header }

func (w *frameWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 100 && status <= 599 {
		w.status = status
	}
}

func (w *frameWriter) Write(p []byte) (int, error) {
	if w.failed {
		return 0, ErrClosed
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf = append(w.buf, p...)
	for len(w.buf) > ChunkSize {
		if err := w.flush(w.buf[:ChunkSize], true); err != nil {
			w.failed = true
			return 0, err
		}
		w.buf = w.buf[ChunkSize:]
	}
	return len(p), nil
}

// Flush sends what is buffered.
func (w *frameWriter) Flush() {
	if len(w.buf) > 0 && !w.failed {
		if err := w.flush(w.buf, true); err != nil {
			w.failed = true
		}
		w.buf = w.buf[:0]
	}
}

func (w *frameWriter) flush(part []byte, more bool) error {
	f := &Frame{Type: TypeChunk, ID: w.id, Body: part, More: more}
	if !w.sent {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Type, f.Status, f.Header = TypeResponse, w.status, cleanHeader(w.header)
		w.sent = true
	}
	return w.c.send(f)
}

func (w *frameWriter) finish() {
	if err := w.flush(w.buf, false); err != nil {
		w.failed = true
	}
}

// hopHeaders are connection-level fields that never travel in a frame.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer", "Content-Length"}

func cleanHeader(h http.Header) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = v
	}
	for _, k := range hopHeaders {
		delete(out, k)
	}
	return out
}
