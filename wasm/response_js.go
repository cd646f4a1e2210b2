package main

import (
	"bytes"
	"net/http"
)

// response is the http.ResponseWriter a request from JavaScript is served
// into: the whole answer is kept and handed back at once.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

var _ http.Flusher = (*response)(nil)

func newResponse() *response {
	return &response{header: http.Header{}}
}

// Header implements http.ResponseWriter.
func (w *response) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter. Informational statuses and
// calls after the first are ignored, as net/http does.
func (w *response) WriteHeader(status int) {
	if w.status != 0 || status < 200 {
		return
	}
	w.status = status
}

// Write implements http.ResponseWriter.
func (w *response) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(b)
}

// Flush implements http.Flusher; the body goes out when the handler
// returns.
func (w *response) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
}

// Status is the status sent, 200 if the handler wrote nothing.
func (w *response) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// newRequest builds the server-side request for one call from JavaScript.
// url is absolute (the page's origin); headers are name/value pairs.
func newRequest(method, url string, headers [][2]string, body []byte) (*http.Request, error) {
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, kv := range headers {
		r.Header.Add(kv[0], kv[1])
	}
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	r.RequestURI = r.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	return r, nil
}
