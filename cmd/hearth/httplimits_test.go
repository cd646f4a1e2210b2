package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveInProcess runs `hearth serve args... --listen ADDR` in this process
// until the test ends, and returns ADDR once /versions answers.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runCLIContext(ctx, append(append([]string{"serve"}, args...), "--listen", addr, "--log-level", "error")...)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve stopped with %v", err)
		}
	})
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve %v returned before serving: %v", args, err)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/_matrix/client/versions"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// guard bounds a raw connection's reads by the test binary's own timeout,
// so a server that never answers fails the test instead of hanging it.
func guard(t *testing.T, c net.Conn) {
	if d, ok := t.Deadline(); ok {
		c.SetReadDeadline(d.Add(-10 * time.Second))
	}
}

// TestSlowBodyCutOff: a request body that trickles slower than
// http.min_body_rate after http.read_timeout's allowance is cut off, with
// a declared length and chunked; the server stays up for others.
func TestSlowBodyCutOff(t *testing.T) {
	addr := serveInProcess(t, "--data-dir", t.TempDir(), "--http-read-timeout", "1s", "--http-min-body-rate", "1000")
	for _, tc := range []struct{ name, head, part string }{
		{"content-length", "Content-Length: 1000000\r\n", `{"type": "m.login.password", `},
		{"chunked", "Transfer-Encoding: chunked\r\n", chunk(`{"type": "m.login`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			guard(t, c)
			// Headers and the start of the body, then nothing more: the
			// server must give up on the body by itself.
			fmt.Fprintf(c, "POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\n%s", tc.head, tc.part)
			got, err := io.ReadAll(c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the server still waits for the trickling body (read %q)", got)
			}
			// Whatever the server wrote before closing, it is not a login.
			if bytes.Contains(got, []byte(" 200 ")) {
				t.Errorf("a cut-off body was answered 200:\n%s", got)
			}
		})
	}
	if resp, err := http.Get("http://" + addr + "/_matrix/client/versions"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("server after the cut-offs: %v", err)
	}
}

// TestLargeUploadKeepsUp: the body deadline moves with the bytes received,
// so a 50 MiB upload on loopback succeeds even with a 1-second allowance
// (at 256 KiB/s it could take 201 s).
func TestLargeUploadKeepsUp(t *testing.T) {
	dir := t.TempDir()
	if _, err := runUser(t, "pw\n", "create", "--data-dir", dir, "--name", "up", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	addr := serveInProcess(t, "--data-dir", dir, "--http-read-timeout", "1s", "--http-min-body-rate", "262144")
	token := login(t, addr, "up", "pw")
	const size = 50 << 20
	req, _ := http.NewRequest("POST", "http://"+addr+"/_matrix/media/v3/upload?filename=big.bin",
		io.LimitReader(zeroes{}, size))
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		ContentURI string `json:"content_uri"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 || !strings.HasPrefix(body.ContentURI, "mxc://") {
		t.Fatalf("50 MiB upload: %s %+v", resp.Status, body)
	}
}

// chunk is s as one well-formed chunk of a chunked body.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// login logs user in with password and returns the access token.
func login(t *testing.T, addr, user, password string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": user},
		"password":   password,
	})
	resp, err := http.Post("http://"+addr+"/_matrix/client/v3/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("login %s: %s %v", user, resp.Status, err)
	}
	return out.AccessToken
}

// TestConnCapPerIP: with http.max_conns_per_ip 3, a fourth connection from
// 127.0.0.3 is closed unanswered while three are open, another loopback
// address (127.0.0.2) is still served, and a slot freed is usable again.
// (127.0.0.1 is left to serveInProcess, whose start-up probe may still
// hold a connection the server has not seen closed.)
func TestConnCapPerIP(t *testing.T) {
	addr := serveInProcess(t, "--data-dir", t.TempDir(), "--http-max-conns-per-ip", "3")
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		guard(t, c)
		return c
	}
	// versions asks /versions on c (kept alive) and says whether it was
	// answered 200.
	versions := func(c net.Conn) bool {
		fmt.Fprintf(c, "GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	var held []net.Conn
	for i := range 3 {
		c := dial("127.0.0.3")
		defer c.Close()
		if !versions(c) {
			t.Fatalf("connection %d of 3 was not served", i+1)
		}
		held = append(held, c)
	}
	extra := dial("127.0.0.3")
	defer extra.Close()
	if versions(extra) {
		t.Error("a fourth connection from 127.0.0.3 was served past the cap of 3")
	}
	other := dial("127.0.0.2")
	defer other.Close()
	if !versions(other) {
		t.Error("a connection from 127.0.0.2 was refused while 127.0.0.3 is at its cap")
	}
	// A freed slot: the server notices the close on its own, so try until
	// a new connection is served.
	held[0].Close()
	for {
		c := dial("127.0.0.3")
		ok := versions(c)
		c.Close()
		if ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}
