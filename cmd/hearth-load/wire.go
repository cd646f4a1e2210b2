package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// wire is a small HTTP/1.1 client over kept-alive TCP connections, for the
// phases that measure the server's speed: the load tool runs on the same
// machine as the server, and net/http's client (a reader and a writer
// goroutine per connection, a parsed URL and a header map per request)
// cost about as much CPU per request as the server's send itself. The
// requests are real HTTP/1.1 requests on a TCP connection; the answer's
// status line, headers and whole body (Content-Length or chunked) are read
// before a request counts as done.
type wire struct {
	addr   string // host:port to dial
	host   string // the Host header
	prefix string // the base URL's path, before every request's path
	idle   chan *wireConn
}

// wireConn is one kept-alive connection.
type wireConn struct {
	c   net.Conn
	r   *bufio.Reader
	req []byte // the request being written, reused
}

// newWire returns a wire client for base, an http:// URL, keeping up to
// maxIdle connections open; nil for any other scheme.
func newWire(base string, maxIdle int) *wire {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &wire{addr: addr, host: u.Host, prefix: u.EscapedPath(), idle: make(chan *wireConn, maxIdle)}
}

// wireTimeout bounds one request, as the net/http client's Timeout does.
const wireTimeout = 60 * time.Second

// do sends one request and returns the answer's status and body.
func (w *wire) do(method, path, token string, body []byte) (int, []byte, error) {
	var wc *wireConn
	select {
	case wc = <-w.idle:
	default:
	}
	reused := wc != nil
	for {
		if wc == nil {
			c, err := net.Dial("tcp", w.addr)
			if err != nil {
				return 0, nil, err
			}
			wc = &wireConn{c: c, r: bufio.NewReaderSize(c, 16<<10)}
		}
		status, resp, keep, err := wc.roundTrip(w, method, path, token, body)
		if err != nil {
			wc.c.Close()
			// A kept connection the server closed while idle: once more on
			// a new one (every request the tool sends may be repeated).
			if reused && errors.Is(err, errStale) {
				wc, reused = nil, false
				continue
			}
			return 0, nil, err
		}
		if !keep {
			wc.c.Close()
		} else {
			select {
			case w.idle <- wc:
			default:
				wc.c.Close()
			}
		}
		return status, resp, nil
	}
}

// errStale is a connection that ended before any byte of the answer.
var errStale = errors.New("connection closed before the answer")

func (wc *wireConn) roundTrip(w *wire, method, path, token string, body []byte) (status int, resp []byte, keep bool, err error) {
	b := wc.req[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, w.prefix...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, w.host...)
	b = append(b, "\r\nUser-Agent: hearth-load\r\n"...)
	if token != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, token...)
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	wc.req = b
	if err := wc.c.SetDeadline(time.Now().Add(wireTimeout)); err != nil {
		return 0, nil, false, err
	}
	if _, err := wc.c.Write(b); err != nil {
		return 0, nil, false, fmt.Errorf("%w: %w", errStale, err)
	}
	line, err := wc.r.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)) {
			err = fmt.Errorf("%w: %w", errStale, err)
		}
		return 0, nil, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := -1, false
	for {
		h, err := wc.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("bad header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case method == "HEAD" || status == 204 || status == 304:
		return status, nil, keep, nil
	case chunked:
		resp, err = readChunked(wc.r)
	case length >= 0:
		resp = make([]byte, length)
		_, err = io.ReadFull(wc.r, resp)
	default:
		resp, err = io.ReadAll(wc.r)
		keep = false
	}
	return status, resp, keep, err
}

// readChunked reads a chunked body (RFC 9112 section 7.1), trailers
// included.
func readChunked(r *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := r.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return out, nil
				}
			}
		}
		start := len(out)
		out = append(out, make([]byte, n)...)
		if _, err := io.ReadFull(r, out[start:]); err != nil {
			return nil, err
		}
		if crlf, err := r.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return nil, fmt.Errorf("bad chunk end")
		}
	}
}
