package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"syscall/js"
	"time"

	"hearth.dev/hearth"
	"hearth.dev/hearth/storage"
)

// warmUpArg, as the program's first argument, makes it run the send
// path's warm-up (warmUp) and exit instead of serving: the worker script
// runs the same compiled module in a helper worker once the homeserver
// has answered its first request (web/ui/worker.js).
const warmUpArg = "warm-up"

// warmUpSends is how many messages the warm-up sends when
// $HEARTH_WARM_UP_SENDS does not say.
const warmUpSends = 40

// warmUpPassword is the throwaway owner's password. Its hash is made with
// warmUpPasswordParams: no one logs into the warm-up homeserver but the
// warm-up itself, and it is gone with the helper worker.
const warmUpPassword = "warm-up password"

var warmUpPasswordParams = storage.PasswordParams{Memory: 8, Time: 1, Threads: 1}

// warmUpMain runs warmUp with $HEARTH_WARM_UP_SENDS sends and hands what
// it did to globalThis.hearthWarmed({ms, sends, error}).
//
// Why a helper: the browser compiles a wasm function on its first call
// (V8's lazy compilation, then an optimised tier for the functions that
// run hot), and the send path is large; the first sends of a tab paid for
// that. A compiled module that a worker hands to another worker keeps one
// set of compiled code for both, so what the helper's homeserver runs here
// is compiled for the tab's homeserver too, on another thread, with its
// own memory (the wasm memory of a worker never shrinks; the helper's
// leaves with it) and its own in-memory database, which the tab's
// database never sees.
func warmUpMain() {
	n := warmUpSends
	if v, err := strconv.Atoi(os.Getenv("HEARTH_WARM_UP_SENDS")); err == nil && v >= 0 {
		n = v
	}
	began := time.Now()
	image := bytesOf(js.Global().Get("hearthWarmImage"))
	sent, fromImage, err := warmUp(context.Background(), n, image, tabBusy)
	res := map[string]any{"ms": float64(time.Since(began).Microseconds()) / 1000, "sends": sent, "image": fromImage, "error": nil}
	if err != nil {
		res["error"] = err.Error()
	}
	if cb := js.Global().Get("hearthWarmed"); cb.Type() == js.TypeFunction {
		cb.Invoke(js.ValueOf(res))
	}
}

// tabBusy reports whether the tab's homeserver is serving a request:
// the worker script sets globalThis.hearthWarmBusy in this helper while
// it has requests in flight (web/ui/worker.js).
func tabBusy() bool {
	return js.Global().Get("hearthWarmBusy").Truthy()
}

// warmUpPoll is how often a warm-up that gave way to the tab's requests
// looks again, and how long it lets the helper's event loop run before
// each of its own requests (the worker script's messages arrive only
// then).
const warmUpPoll = time.Millisecond

// warmUpRequests counts the requests warm-ups made (for the tests).
var warmUpRequests atomic.Int64

// warmUp opens a throwaway homeserver on an in-memory database and runs
// what a tab's client does first through the bridge's own code (the
// request and answer conversions of fetch, the host's serve): log in,
// create a room, a first /sync, then sends, each followed by an
// incremental /sync, and a page of /messages. Before each of its
// requests it waits while busy() (the tab's own requests come first).
// The database starts as image, the build's schema image, when it is
// given and opens (fromImage then is true); else the migrator makes the
// schema, seconds of CPU on code no request runs. It returns how many
// sends it made.
func warmUp(ctx context.Context, sends int, image []byte, busy func() bool) (sent int, fromImage bool, err error) {
	log := slog.New(slog.DiscardHandler)
	h := newHost(log, new(slog.LevelVar))
	h.dataDir = "/warm-up"
	cfg := hearth.DefaultConfig()
	cfg.ServerName = "warm-up.invalid"
	cfg.DataDir = h.dataDir
	cfg.RateLimits = "off"
	open := func() (*hearth.Homeserver, error) {
		return hearth.Open(ctx, cfg, hearth.OpenOptions{VFS: backendMemory.VFS, Logger: log,
			DeferBackground: true, PasswordParams: warmUpPasswordParams})
	}
	var hs *hearth.Homeserver
	if len(image) > 0 {
		// Written as the file itself: SQLite's backup, which a first
		// visit uses, refuses an in-memory destination of another page
		// size.
		if err := backendMemory.writeFile(h.dbPath(), image); err == nil {
			hs, err = open()
			fromImage = err == nil
		}
		if !fromImage {
			backendMemory.removeDatabase(h.dbPath())
		}
	}
	if hs == nil {
		hs, err = open()
	}
	if err != nil {
		return 0, false, fmt.Errorf("warm-up: open: %w", err)
	}
	sent, err = warmUpOn(ctx, h, hs, sends, busy)
	return sent, fromImage, err
}

// warmUpOn is warmUp's requests, on the throwaway homeserver hs.
func warmUpOn(ctx context.Context, h *host, hs *hearth.Homeserver, sends int, busy func() bool) (int, error) {
	defer func() {
		hs.Close()
		backendMemory.removeDatabase(h.dbPath())
	}()
	if _, err := hs.CreateOwner(ctx, "warm", warmUpPassword); err != nil {
		return 0, fmt.Errorf("warm-up: owner: %w", err)
	}
	h.mu.Lock()
	h.hs, h.backend = hs, backendMemory
	// The background work stays off: it is not what a request runs.
	h.served = true
	h.mu.Unlock()

	c := warmClient{h: h, busy: busy}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.do("POST", "/_matrix/client/v3/login", map[string]any{"type": "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": "warm"}, "password": warmUpPassword}, &login); err != nil {
		return 0, err
	}
	c.token = login.AccessToken
	var room struct {
		RoomID string `json:"room_id"`
	}
	if err := c.do("POST", "/_matrix/client/v3/createRoom", map[string]any{"name": "warm-up"}, &room); err != nil {
		return 0, err
	}
	var sync struct {
		NextBatch string `json:"next_batch"`
	}
	if err := c.do("GET", "/_matrix/client/v3/sync?timeout=0", nil, &sync); err != nil {
		return 0, err
	}
	rid := url.PathEscape(room.RoomID)
	for i := range sends {
		var sent struct {
			EventID string `json:"event_id"`
		}
		if err := c.do("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/w%d", rid, i),
			map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("warm-up %d", i)}, &sent); err != nil {
			return i, err
		}
		if err := c.do("GET", "/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(sync.NextBatch), nil, &sync); err != nil {
			return i + 1, err
		}
		if i%10 == 9 {
			if err := c.do("POST", fmt.Sprintf("/_matrix/client/v3/rooms/%s/receipt/m.read/%s", rid, url.PathEscape(sent.EventID)),
				map[string]any{}, nil); err != nil {
				return i + 1, err
			}
		}
	}
	if err := c.do("GET", fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=20", rid), nil, nil); err != nil {
		return sends, err
	}
	return sends, nil
}

// warmClient makes the warm-up's requests as the bridge's fetch does:
// from JavaScript values (headers as [name, value] pairs, the body as a
// Uint8Array) to an answer's JavaScript object.
type warmClient struct {
	h     *host
	busy  func() bool
	token string
	n     int
}

// do makes one request with body (JSON, nil: none) and decodes a 200
// answer's JSON body into out (nil: not decoded); another status is an
// error.
func (c *warmClient) do(method, path string, body, out any) error {
	time.Sleep(warmUpPoll)
	for c.busy != nil && c.busy() {
		time.Sleep(warmUpPoll)
	}
	warmUpRequests.Add(1)
	headers := []any{[]any{"Content-Type", "application/json"}}
	if c.token != "" {
		headers = append(headers, []any{"Authorization", "Bearer " + c.token})
	}
	jsBody := js.Null()
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		jsBody = uint8Array(b)
	}
	r, err := newRequest(method, "http://hearth.invalid"+path, headersOf(js.ValueOf(headers)), bytesOf(jsBody))
	if err != nil {
		return fmt.Errorf("warm-up: %s %s: %w", method, path, err)
	}
	c.n++
	w, err := c.h.serve("warm-up-"+strconv.Itoa(c.n), r)
	if err != nil {
		return fmt.Errorf("warm-up: %s %s: %w", method, path, err)
	}
	answer := js.ValueOf(responseValue(w))
	if st := answer.Get("status").Int(); st != 200 {
		return fmt.Errorf("warm-up: %s %s: status %d: %s", method, path, st, w.body.String())
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(&w.body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("warm-up: %s %s: %w", method, path, err)
	}
	return nil
}
