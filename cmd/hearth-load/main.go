// Command hearth-load measures a homeserver through the client-server API
// only, so the same load runs against hearth and any other homeserver.
//
//	hearth-load --url http://127.0.0.1:8008 [--messages 2000] [--pid PID] [--db FILE]
//
// It registers a user (open registration with m.login.dummy, or
// --registration-token), creates a room, sends messages sequentially and
// with concurrency 8, runs an initial and an incremental /sync, pages
// /messages over the whole room, PUTs 200 state events and GETs the state,
// and prints operations per second with p50/p99 latencies. With --pid it
// reads the server's resident memory from /proc; with --db it divides the
// database files' growth by the events sent.
//
//	hearth-load --url URL --soak 30m [--interval 1m] [--pid PID] [--db FILE]
//
// runs a long mixed load instead (soak.go): 8 clients sending, syncing,
// paging, typing, uploading, searching, creating rooms and querying devices
// and keys, with throughput, p50/p99 and RSS printed every interval.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type client struct {
	base     string
	token    string
	userID   string
	deviceID string
	http     *http.Client
}

func (c *client) do(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// result collects latencies of one kind of operation.
type result struct {
	name  string
	lat   []time.Duration
	total time.Duration
}

func (r *result) String() string {
	if len(r.lat) == 0 {
		return fmt.Sprintf("%-28s no operations", r.name)
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[min(len(s)-1, int(float64(len(s))*p))] }
	return fmt.Sprintf("%-28s %6d ops  %9.1f ops/s  p50 %8s  p99 %8s", r.name, len(s),
		float64(len(s))/r.total.Seconds(), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
}

func timed(name string, n, conc int, op func(i int) error) (*result, error) {
	r := &result{name: name, lat: make([]time.Duration, n)}
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				err := op(i)
				r.lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	r.total = time.Since(start)
	return r, firstErr
}

func rss(pid int) string {
	if pid == 0 {
		return "n/a (no --pid)"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "n/a: " + err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "n/a"
}

// rssParts returns the resident memory of process pid as rss does, with
// its two parts: anonymous (the Go heap and runtime, SQLite's memory) and
// file-backed (mostly the binary's pages).
func rssParts(pid int) string {
	total := rss(pid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if pid == 0 || err != nil {
		return total
	}
	var anon, file string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			file = strings.TrimSpace(v)
		}
	}
	if anon == "" || file == "" {
		return total
	}
	return fmt.Sprintf("%s (anonymous %s: Go heap and runtime, SQLite; file-backed %s: mostly the binary)", total, anon, file)
}

// dbBytes sums the sizes of a SQLite database and its -wal file.
func dbBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}

// register creates a fresh user (open registration with m.login.dummy, or
// a registration token) and keeps its access token in c.
func (c *client) register(regToken string) error {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	user := "load" + hex.EncodeToString(suffix)
	auth := map[string]any{"type": "m.login.dummy"}
	if regToken != "" {
		auth = map[string]any{"type": "m.login.registration_token", "token": regToken}
	}
	var reg struct {
		AccessToken string `json:"access_token"`
		UserID      string `json:"user_id"`
		DeviceID    string `json:"device_id"`
	}
	body := map[string]any{"username": user, "password": loadPassword, "auth": auth}
	if err := c.do("POST", "/_matrix/client/v3/register", body, &reg); err != nil {
		// Servers that insist on the two-step flow: take the session and retry.
		var first struct{ Session string }
		if e2 := c.do("POST", "/_matrix/client/v3/register", map[string]any{"username": user, "password": loadPassword}, &first); e2 != nil {
			msg := e2.Error()
			if i := strings.Index(msg, "{"); i >= 0 {
				json.Unmarshal([]byte(msg[i:]), &first)
			}
		}
		if first.Session == "" {
			return err
		}
		auth["session"] = first.Session
		if err := c.do("POST", "/_matrix/client/v3/register", body, &reg); err != nil {
			return err
		}
	}
	c.token, c.userID, c.deviceID = reg.AccessToken, reg.UserID, reg.DeviceID
	return nil
}

const loadPassword = "load-password"

func main() {
	base := flag.String("url", "http://127.0.0.1:8008", "homeserver base URL")
	messages := flag.Int("messages", 2000, "messages per send phase")
	states := flag.Int("states", 200, "state PUTs")
	pid := flag.Int("pid", 0, "server process ID, for RSS")
	dbPath := flag.String("db", "", "server database file, for bytes per event")
	regToken := flag.String("registration-token", "", "registration token, when registration is not open")
	soakFor := flag.Duration("soak", 0, "instead of the phases, run 8 clients with a mixed load for this long (e.g. 30m)")
	interval := flag.Duration("interval", time.Minute, "with --soak, how often to report")
	flag.Parse()
	var err error
	if *soakFor > 0 {
		err = soak(*base, *soakFor, *interval, *pid, *dbPath, *regToken)
	} else {
		err = run(*base, *messages, *states, *pid, *dbPath, *regToken)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hearth-load:", err)
		os.Exit(1)
	}
}

func run(base string, messages, states, pid int, dbPath, regToken string) error {
	c := &client{base: strings.TrimRight(base, "/"), http: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
	fmt.Printf("server RSS at start: %s\n", rss(pid))
	start := time.Now()
	if err := c.do("GET", "/_matrix/client/versions", nil, nil); err != nil {
		return err
	}
	fmt.Printf("first /versions: %s\n", time.Since(start).Round(time.Microsecond))

	if err := c.register(regToken); err != nil {
		return err
	}
	before := dbBytes(dbPath)

	var room struct {
		RoomID string `json:"room_id"`
	}
	if err := c.do("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat", "name": "load"}, &room); err != nil {
		return err
	}
	rid := url.PathEscape(room.RoomID)
	send := func(prefix string) func(i int) error {
		return func(i int) error {
			return c.do("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/%s%d", rid, prefix, i),
				map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("load message %s%d with some ordinary length text in it", prefix, i)}, nil)
		}
	}
	var results []*result
	add := func(r *result, err error) error {
		if r != nil {
			results = append(results, r)
			fmt.Println(r)
		}
		return err
	}
	if err := add(timed("send sequential", messages, 1, send("s"))); err != nil {
		return err
	}
	if err := add(timed("send concurrency 8", messages, 8, send("c"))); err != nil {
		return err
	}
	var since string
	if err := add(timed("initial /sync", 1, 1, func(int) error {
		var s struct {
			NextBatch string `json:"next_batch"`
		}
		err := c.do("GET", "/_matrix/client/v3/sync", nil, &s)
		since = s.NextBatch
		return err
	})); err != nil {
		return err
	}
	if err := add(timed("incremental /sync (1 new)", 50, 1, func(i int) error {
		if err := send("i")(i); err != nil {
			return err
		}
		var s struct {
			NextBatch string `json:"next_batch"`
		}
		err := c.do("GET", "/_matrix/client/v3/sync?timeout=0&since="+url.QueryEscape(since), nil, &s)
		since = s.NextBatch
		return err
	})); err != nil {
		return err
	}
	var paged int
	if err := add(timed("/messages pages of 100", 1, 1, func(int) error {
		from := ""
		for {
			var page struct {
				Chunk []json.RawMessage `json:"chunk"`
				End   string            `json:"end"`
			}
			q := "/_matrix/client/v3/rooms/" + rid + "/messages?dir=b&limit=100"
			if from != "" {
				q += "&from=" + url.QueryEscape(from)
			}
			if err := c.do("GET", q, nil, &page); err != nil {
				return err
			}
			paged += len(page.Chunk)
			if page.End == "" || len(page.Chunk) == 0 {
				return nil
			}
			from = page.End
		}
	})); err != nil {
		return err
	}
	fmt.Printf("  /messages returned %d events\n", paged)
	if err := add(timed("state PUT", states, 1, func(i int) error {
		return c.do("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/state/org.hearth.load/%d", rid, i), map[string]any{"n": i}, nil)
	})); err != nil {
		return err
	}
	if err := add(timed("GET /state", 20, 1, func(int) error {
		return c.do("GET", "/_matrix/client/v3/rooms/"+rid+"/state", nil, nil)
	})); err != nil {
		return err
	}
	fmt.Printf("server RSS at end: %s\n", rssParts(pid))
	events := 2*messages + 50 + states
	fmt.Printf("events sent: %d\n", events)
	if dbPath != "" {
		grew := dbBytes(dbPath) - before
		fmt.Printf("database and WAL grew %d bytes: %.0f bytes/event (the WAL is not yet checkpointed)\n", grew, float64(grew)/float64(events))
	}
	if len(results) == 0 {
		return errors.New("nothing measured")
	}
	return nil
}
