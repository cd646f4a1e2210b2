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
	// wire, when set, sends the requests instead of http (wire.go).
	wire *wire
}

func (c *client) do(method, path string, body any, out any) error {
	var js []byte
	if body != nil {
		var err error
		if js, err = json.Marshal(body); err != nil {
			return err
		}
	}
	if c.wire != nil {
		status, b, err := c.wire.do(method, path, c.token, js)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		return answer(method, path, status, b, out)
	}
	var rd io.Reader
	if js != nil {
		rd = bytes.NewReader(js)
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
	return answer(method, path, resp.StatusCode, b, out)
}

// answer checks a request's answer and decodes its body into out.
func answer(method, path string, status int, b []byte, out any) error {
	if status != 200 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, b)
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
	// serverCPU and toolCPU are the CPU time (user and system) the server
	// and this tool spent during the phase, -1 when unknown.
	serverCPU, toolCPU time.Duration
}

func (r *result) String() string {
	if len(r.lat) == 0 {
		return fmt.Sprintf("%-28s no operations", r.name)
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[min(len(s)-1, int(float64(len(s))*p))] }
	line := fmt.Sprintf("%-28s %6d ops  %9.1f ops/s  p50 %8s  p99 %8s", r.name, len(s),
		float64(len(s))/r.total.Seconds(), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	// The CPU times come in ticks of 10 ms: only a long phase says much.
	if len(s) >= 100 && r.serverCPU >= 0 && r.toolCPU >= 0 {
		line += fmt.Sprintf("  CPU/op server %s, load tool %s", (r.serverCPU / time.Duration(len(s))).Round(time.Microsecond), (r.toolCPU / time.Duration(len(s))).Round(time.Microsecond))
	}
	return line
}

// serverPID is the server's process ID (--pid), for the CPU it spends.
var serverPID int

func timed(name string, n, conc int, op func(i int) error) (*result, error) {
	r := &result{name: name, lat: make([]time.Duration, n)}
	cpu0, tool0 := cpuTime(serverPID), cpuTime(os.Getpid())
	defer func() {
		r.serverCPU, r.toolCPU = -1, -1
		if cpu1 := cpuTime(serverPID); cpu0 >= 0 && cpu1 >= 0 {
			r.serverCPU = cpu1 - cpu0
		}
		if tool1 := cpuTime(os.Getpid()); tool0 >= 0 && tool1 >= 0 {
			r.toolCPU = tool1 - tool0
		}
	}()
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
	netHTTP := flag.Bool("net-http", false, "send with Go's net/http client instead of the tool's own small HTTP/1.1 client (which costs the shared machine less CPU per request)")
	soakFor := flag.Duration("soak", 0, "instead of the phases, run 8 clients with a mixed load for this long (e.g. 30m)")
	interval := flag.Duration("interval", time.Minute, "with --soak, how often to report")
	flag.Parse()
	var err error
	if *soakFor > 0 {
		err = soak(*base, *soakFor, *interval, *pid, *dbPath, *regToken)
	} else {
		err = run(*base, *messages, *states, *pid, *dbPath, *regToken, !*netHTTP)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hearth-load:", err)
		os.Exit(1)
	}
}

func run(base string, messages, states, pid int, dbPath, regToken string, small bool) error {
	c := &client{base: strings.TrimRight(base, "/"), http: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
	if small {
		c.wire = newWire(c.base, 16)
	}
	serverPID = pid
	if c.wire != nil {
		fmt.Println("client: the tool's own HTTP/1.1 client (--net-http for Go's)")
	} else {
		fmt.Println("client: Go's net/http")
	}
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
