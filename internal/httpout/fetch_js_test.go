package httpout

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// These tests run in a Chromium worker against the loopback server of
// test/browser/fetch.test.mjs, whose address is HEARTH_FETCH_URL.
func server(t *testing.T) string {
	u := os.Getenv("HEARTH_FETCH_URL")
	if u == "" {
		t.Skip("run in Chromium by test/browser/fetch.test.mjs (HEARTH_FETCH_URL is its server)")
	}
	return u
}

// echo is what the server's /echo answers: the request it saw.
type echo struct {
	Method        string `json:"method"`
	Path          string `json:"path"`
	Authorization string `json:"authorization"`
	ContentType   string `json:"contentType"`
	Body          string `json:"body"`
}

func do(t *testing.T, c Client, method, u, body string, h http.Header) (*http.Response, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return c.Do(req)
}

func readEcho(t *testing.T, resp *http.Response) echo {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e echo
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("echo answer %q: %v", b, err)
	}
	return e
}

// get asks the server something outside the client under test (its
// bookkeeping of connections); it fails the test unless the answer is 200.
func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := do(t, New(0), http.MethodGet, u, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", u, resp.Status, b)
	}
	return string(b)
}

func TestFetchSendsAndReads(t *testing.T) {
	base := server(t)
	resp, err := do(t, New(time.Minute), http.MethodPut, base+"/echo?x=1", `{"a":1}`,
		http.Header{"Authorization": {"Bearer tok"}, "Content-Type": {"application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.Header.Get("X-Echo") != "yes" {
		t.Fatalf("answer %q, header %v", resp.Status, resp.Header)
	}
	e := readEcho(t, resp)
	want := echo{Method: "PUT", Path: "/echo?x=1", Authorization: "Bearer tok", ContentType: "application/json", Body: `{"a":1}`}
	if e != want {
		t.Fatalf("the server saw %+v, want %+v", e, want)
	}
	resp, err = do(t, New(0), http.MethodGet, base+"/status?code=404", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Status != "404 Not Found" {
		t.Fatalf("status %q", resp.Status)
	}
}

func TestFetchFollowsRedirectsAsGo(t *testing.T) {
	base := server(t)
	for _, c := range []struct {
		code         string
		method, body string
	}{{"301", "GET", ""}, {"302", "GET", ""}, {"303", "GET", ""}, {"307", "POST", "x"}, {"308", "POST", "x"}} {
		resp, err := do(t, New(0), http.MethodPost, base+"/redirect?code="+c.code, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Request.URL.Path != "/echo" {
			t.Errorf("%s: the answer's request is for %s, want the redirect's target", c.code, resp.Request.URL)
		}
		e := readEcho(t, resp)
		if e.Method != c.method || e.Body != c.body || e.Path != "/echo?from="+c.code {
			t.Errorf("%s: a POST was redirected as %+v, want %s with body %q", c.code, e, c.method, c.body)
		}
	}
	// A redirect to another origin drops Authorization, as Go's client
	// does for another host.
	resp, err := do(t, New(0), http.MethodGet, base+"/redirect?code=302&other=1", "", http.Header{"Authorization": {"Bearer tok"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := readEcho(t, resp); e.Authorization != "" || e.Method != "GET" {
		t.Errorf("a redirect to another origin carried %+v", e)
	}
}

func TestFetchStreamsTheBody(t *testing.T) {
	base := server(t)
	resp, err := do(t, New(0), http.MethodGet, base+"/stream?id=s1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// The server sends the rest only now: the first line was read while
	// the answer was still coming.
	get(t, base+"/release?id=s1")
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestFetchDecodesCompressedAnswers(t *testing.T) {
	base := server(t)
	resp, err := do(t, New(0), http.MethodGet, base+"/gzip", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || strings.Repeat("hearth ", 100) != string(b) {
		t.Fatalf("body %q, %v", b, err)
	}
	if !resp.Uncompressed || resp.ContentLength != -1 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("uncompressed %v, length %d, header %v", resp.Uncompressed, resp.ContentLength, resp.Header)
	}
}

func TestFetchCancelsBeforeTheAnswer(t *testing.T) {
	base := server(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/hang?id=c1", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := New(0).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	get(t, base+"/seen?id=c1")
	cancel()
	err := <-done
	var ue *url.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ue) || ue.Op != "Get" {
		t.Fatalf("a cancelled request: %#v", err)
	}
	// The browser closed the request's connection: the abort reached the
	// network.
	get(t, base+"/closed?id=c1")
}

func TestFetchCancelsWhileReadingTheBody(t *testing.T) {
	base := server(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stream?id=c2", nil)
	resp, err := New(0).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first line %q, %v", buf, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a read of a cancelled answer: %v", err)
	}
	get(t, base+"/closed?id=c2")
}

func TestFetchTimesOut(t *testing.T) {
	base := server(t)
	_, err := do(t, New(100*time.Millisecond), http.MethodPost, base+"/hang?id=t1", "{}", nil)
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() || !errors.Is(err, context.DeadlineExceeded) || ue.Op != "Post" {
		t.Fatalf("a request past its timeout: %#v", err)
	}
	get(t, base+"/closed?id=t1")
}

func TestFetchReportsNetworkErrors(t *testing.T) {
	base := server(t)
	_, err := do(t, New(0), http.MethodGet, base+"/nocors", "", nil)
	var fe *FetchError
	var ue *url.Error
	if !errors.As(err, &fe) || !errors.As(err, &ue) || !strings.Contains(fe.Message, "TypeError") {
		t.Fatalf("an answer the browser refuses (no CORS): %#v", err)
	}
	_, err = do(t, New(0), http.MethodGet, "http://127.0.0.1:1/", "", nil)
	if !errors.As(err, &fe) {
		t.Fatalf("a refused connection: %#v", err)
	}
}
