package main

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"hearth.dev/hearth"
)

// newHTTPServer is an http.Server for h with the timeouts of l: headers
// within ReadTimeout, a body at MinBodyRate after ReadTimeout's allowance,
// an answer within WriteTimeout, idle connections closed after
// IdleTimeout.
func newHTTPServer(h http.Handler, l hearth.HTTPLimits, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(h, l.ReadTimeout, l.MinBodyRate),
		ReadHeaderTimeout: l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// bodyDeadline gives a request body a read deadline that moves with the
// bytes received: the body may take grace plus its size at minRate bytes
// per second, so a legitimate large upload runs as long as it keeps up,
// while a body that trickles or stalls is cut off (its handler's read
// fails and the connection is closed). A server-wide ReadTimeout cannot
// do this: it would cap every upload at one duration.
func bodyDeadline(next http.Handler, grace time.Duration, minRate int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			// No body: the server is already watching the connection for
			// the client going away; a deadline would end that watch.
			next.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{body: r.Body, rc: http.NewResponseController(w), start: time.Now(),
			grace: grace, minRate: minRate, length: r.ContentLength}
		if !b.extend() {
			next.ServeHTTP(w, r) // a connection that takes no deadlines
			return
		}
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// deadlineBody moves the connection's read deadline before each read of a
// request body to start + grace + received/minRate.
type deadlineBody struct {
	body     io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	grace    time.Duration
	minRate  int64
	length   int64 // declared Content-Length, -1 if chunked
	received int64
	done     bool // the body was read to its end (or failed): no more deadlines
}

// extend sets the deadline for the next read; false if it cannot be set.
func (b *deadlineBody) extend() bool {
	allowed := b.grace + time.Duration(b.received/b.minRate)*time.Second +
		time.Duration(b.received%b.minRate)*time.Second/time.Duration(b.minRate)
	return b.rc.SetReadDeadline(b.start.Add(allowed)) == nil
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	// Once the body has been read to its end, the server reads the
	// connection in the background to notice a client going away: a
	// deadline set now would cut that read short.
	if !b.done {
		b.extend()
	}
	n, err := b.body.Read(p)
	b.received += int64(n)
	if err != nil || (b.length >= 0 && b.received >= b.length) {
		b.done = true
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.body.Close() }
