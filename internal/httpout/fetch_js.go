package httpout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"syscall/js"
)

// RoundTrip sends req with the browser's fetch and returns the answer with
// its headers; the body is read from the answer's stream as it arrives.
// req's context cancels the request through an AbortController, before the
// answer or while its body is read, and the error is then the context's.
// The request's body is read whole first (a streamed upload needs HTTP/2 in
// the browser). The browser decodes a compressed answer: Content-Encoding
// and Content-Length are then removed and Uncompressed set, as net/http
// does for gzip; ContentLength is -1 unless the answer is same-origin and
// not compressed. Cookies of the page are never sent (credentials "omit").
func RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	global := js.Global()
	ac := global.Get("AbortController").New()
	opt := global.Get("Object").New()
	opt.Set("method", req.Method)
	opt.Set("credentials", "omit")
	opt.Set("redirect", "follow")
	opt.Set("signal", ac.Get("signal"))
	headers := global.Get("Headers").New()
	for k, vs := range req.Header {
		for _, v := range vs {
			headers.Call("append", k, v)
		}
	}
	opt.Set("headers", headers)
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) > 0 {
			buf := global.Get("Uint8Array").New(len(body))
			js.CopyBytesToJS(buf, body)
			opt.Set("body", buf)
		}
	}
	answer, err := await(ctx, ac, func() js.Value { return global.Call("fetch", req.URL.String(), opt) })
	if err != nil {
		return nil, err
	}
	return response(req, answer, ac), nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// response is the Go form of fetch's Response.
func response(req *http.Request, r js.Value, ac js.Value) *http.Response {
	header := http.Header{}
	it := r.Get("headers").Call("entries")
	for {
		n := it.Call("next")
		if n.Get("done").Bool() {
			break
		}
		kv := n.Get("value")
		header.Add(kv.Index(0).String(), kv.Index(1).String())
	}
	// The length is known only for a same-origin answer: from another
	// origin, Content-Length is shown but Content-Encoding need not be, so
	// the header may count the compressed bytes of a body the browser
	// decoded.
	length := int64(-1)
	uncompressed := false
	if header.Get("Content-Encoding") != "" {
		header.Del("Content-Encoding")
		header.Del("Content-Length")
		uncompressed = true
	} else if v, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil && v >= 0 && r.Get("type").String() == "basic" {
		length = v
	}
	if r.Get("redirected").Bool() {
		if u, err := url.Parse(r.Get("url").String()); err == nil {
			req = req.Clone(req.Context())
			req.URL = u
		}
	}
	code := r.Get("status").Int()
	resp := &http.Response{
		Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, ContentLength: length, Uncompressed: uncompressed, Request: req,
		Body: http.NoBody,
	}
	if b := r.Get("body"); !b.IsNull() && !b.IsUndefined() && req.Method != http.MethodHead {
		resp.Body = &streamBody{ctx: req.Context(), ac: ac, reader: b.Call("getReader")}
	}
	return resp
}

// FetchError is a request the browser's fetch refused or could not make
// (network error, CORS, a bad URL): Message is the browser's.
type FetchError struct {
	Message string
}

func (e *FetchError) Error() string { return "fetch: " + e.Message }

// await calls start, which returns a promise, and waits until it settles
// or ctx ends; then it aborts ac and waits for the promise to settle, so
// nothing is left running.
func await(ctx context.Context, ac js.Value, start func() js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: jsError(args[0])}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	start().Call("then", ok, fail)
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		ac.Call("abort")
		<-ch
		return js.Value{}, ctx.Err()
	}
}

// jsError is a rejected promise's reason as a Go error.
func jsError(v js.Value) error {
	if v.Type() != js.TypeObject {
		return &FetchError{Message: v.String()}
	}
	msg := v.Call("toString").String()
	if c := v.Get("cause"); c.Type() == js.TypeObject || c.Type() == js.TypeString {
		msg += ": " + c.Call("toString").String()
	}
	return &FetchError{Message: msg}
}

var errClosed = errors.New("httpout: read of a closed body")

// streamBody reads an answer's body from its ReadableStream.
type streamBody struct {
	ctx     context.Context
	ac      js.Value
	reader  js.Value
	pending []byte
	err     error
}

func (b *streamBody) Read(p []byte) (int, error) {
	if len(b.pending) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		chunk, err := await(b.ctx, b.ac, func() js.Value { return b.reader.Call("read") })
		if err != nil {
			b.err = err
			return 0, err
		}
		if chunk.Get("done").Bool() {
			b.err = io.EOF
			return 0, io.EOF
		}
		v := chunk.Get("value")
		b.pending = make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(b.pending, v)
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

// Close stops the body's download.
func (b *streamBody) Close() error {
	if b.err == nil || b.err == io.EOF {
		b.reader.Call("cancel")
	}
	b.err = errClosed
	b.pending = nil
	return nil
}
