package httpout

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// New returns a client on the browser's fetch whose requests, answers
// included, time out after timeout (none when 0).
func New(timeout time.Duration) Client {
	return &fetchClient{timeout: timeout}
}

// fetchClient is Client on the browser's fetch (fetch_js.go). Redirects
// are followed by the browser as net/http's Client follows them: 301, 302
// and 303 turn a POST into a GET without its body, 307 and 308 repeat the
// request, and Authorization is dropped on a redirect to another origin;
// the browser stops after 20 redirects where Go stops after 10.
type fetchClient struct {
	timeout time.Duration
}

// Do sends req as net/http's Client.Do would: errors are *url.Error, a
// timeout's reports Timeout(), and the timeout covers reading the body.
func (c *fetchClient) Do(req *http.Request) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	if c.timeout > 0 {
		var ctx context.Context
		ctx, cancel = context.WithTimeout(req.Context(), c.timeout)
		req = req.WithContext(ctx)
	}
	resp, err := RoundTrip(req)
	if err != nil {
		cancel()
		return nil, &url.Error{Op: method(req.Method), URL: req.URL.String(), Err: err}
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// method is net/http's Client's name of the operation in its errors:
// "Get", "Post".
func method(m string) string {
	if m == "" {
		m = http.MethodGet
	}
	return m[:1] + strings.ToLower(m[1:])
}

// cancelBody ends the request's timeout when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
