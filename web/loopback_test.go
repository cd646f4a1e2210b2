package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// loopback serves a test's handler on 127.0.0.1 for the rest of the test,
// so the tests' requests travel over a real HTTP connection as a client's
// do. The handler is looked up on every request: a test may build another
// Server on the same database and keep the same address.
type loopback struct {
	srv    *httptest.Server
	client *http.Client
}

func newLoopback(tb testing.TB, handler func() http.Handler) *loopback {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler().ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	// Bodies are compared as the server sent them.
	tr.DisableCompression = true
	return &loopback{srv: srv, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends req, made with httptest.NewRequest (its URL is a path), to the
// server and records the answer. A request that fails on the way is an
// error of the test, recorded as status 599 (do may run on a goroutine of
// the test's, so it does not stop the test).
func (l *loopback) do(tb testing.TB, req *http.Request) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	body := req.Body
	if req.ContentLength == 0 {
		body = http.NoBody
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, l.srv.URL+req.URL.RequestURI(), body)
	if err != nil {
		tb.Errorf("building %s %s: %v", req.Method, req.URL, err)
		rec.WriteHeader(599)
		return rec
	}
	out.ContentLength = req.ContentLength
	out.Header = req.Header.Clone()
	resp, err := l.client.Do(out)
	if err != nil {
		tb.Errorf("%s %s: %v", req.Method, req.URL, err)
		rec.WriteHeader(599)
		return rec
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		rec.Header()[k] = v
	}
	rec.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(rec, resp.Body); err != nil {
		tb.Errorf("reading the answer to %s %s: %v", req.Method, req.URL, err)
	}
	return rec
}
