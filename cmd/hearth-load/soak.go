package main

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A soak run: soakClients devices of one user, each in a closed loop over
// a weighted mix of what a client does all day, for a fixed time. Every
// interval it prints the operations per second with p50/p99, per kind and
// in all, the server's resident memory and the database's size; at the end
// it compares the first and last five intervals, which is where a query
// that scans a growing table shows itself.
const soakClients = 8

// soakMix is the share of each kind of operation, in parts of the sum.
var soakMix = []struct {
	name   string
	weight int
	run    func(w *soakWorker) error
}{
	{"send", 36, (*soakWorker).send},
	{"sync", 14, (*soakWorker).sync},
	{"messages", 10, (*soakWorker).messages},
	{"typing", 8, (*soakWorker).typing},
	{"upload", 5, (*soakWorker).upload},
	{"search", 7, (*soakWorker).search},
	{"createRoom", 4, (*soakWorker).createRoom},
	{"devices", 6, (*soakWorker).devices},
	{"keys", 10, (*soakWorker).keys},
}

// soakWords is the vocabulary messages are made of and searches look for.
var soakWords = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima
mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
harbour lantern meadow copper willow ember granite thistle orchard falcon pebble saffron
tundra velvet walnut quartz marble beacon canyon drizzle glacier hazel island jasper kestrel`)

// soakRooms is the rooms the user has made, shared by the workers.
type soakRooms struct {
	mu  sync.Mutex
	ids []string // path-escaped room IDs; ids[0] is the main room
}

func (r *soakRooms) add(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, url.PathEscape(id))
	r.mu.Unlock()
}

// pick returns the main room half the time, otherwise any room.
func (r *soakRooms) pick(rng *rand.Rand) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rng.IntN(2) == 0 {
		return r.ids[0]
	}
	return r.ids[rng.IntN(len(r.ids))]
}

type soakWorker struct {
	c     *client
	id    int
	rng   *rand.Rand
	rooms *soakRooms
	since string
	seq   int
	file  []byte
}

func (w *soakWorker) txn() string {
	w.seq++
	return fmt.Sprintf("soak%d-%d-%d", w.id, time.Now().UnixNano(), w.seq)
}

func (w *soakWorker) sentence(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = soakWords[w.rng.IntN(len(soakWords))]
	}
	return strings.Join(words, " ")
}

func (w *soakWorker) send() error {
	return w.c.do("PUT", "/_matrix/client/v3/rooms/"+w.rooms.pick(w.rng)+"/send/m.room.message/"+w.txn(),
		map[string]any{"msgtype": "m.text", "body": w.sentence(8 + w.rng.IntN(8))}, nil)
}

func (w *soakWorker) sync() error {
	q := "/_matrix/client/v3/sync?timeout=0"
	if w.since != "" {
		q += "&since=" + url.QueryEscape(w.since)
	}
	var s struct {
		NextBatch string `json:"next_batch"`
	}
	if err := w.c.do("GET", q, nil, &s); err != nil {
		return err
	}
	w.since = s.NextBatch
	return nil
}

func (w *soakWorker) messages() error {
	return w.c.do("GET", "/_matrix/client/v3/rooms/"+w.rooms.pick(w.rng)+"/messages?dir=b&limit=20", nil, nil)
}

func (w *soakWorker) typing() error {
	return w.c.do("PUT", "/_matrix/client/v3/rooms/"+w.rooms.pick(w.rng)+"/typing/"+url.PathEscape(w.c.userID),
		map[string]any{"typing": w.rng.IntN(4) != 0, "timeout": 10000}, nil)
}

func (w *soakWorker) upload() error {
	w.file[0], w.file[1] = byte(w.seq), byte(w.id) // a different file each time
	w.seq++
	req, err := http.NewRequest("POST", w.c.base+"/_matrix/media/v3/upload?filename=soak.bin", bytes.NewReader(w.file))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+w.c.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := w.c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST upload: %d %s", resp.StatusCode, b)
	}
	return nil
}

func (w *soakWorker) search() error {
	return w.c.do("POST", "/_matrix/client/v3/search", map[string]any{
		"search_categories": map[string]any{"room_events": map[string]any{"search_term": w.sentence(1)}},
	}, nil)
}

func (w *soakWorker) createRoom() error {
	var room struct {
		RoomID string `json:"room_id"`
	}
	if err := w.c.do("POST", "/_matrix/client/v3/createRoom",
		map[string]any{"preset": "private_chat", "name": "soak " + w.sentence(2), "topic": w.sentence(5)}, &room); err != nil {
		return err
	}
	w.rooms.add(room.RoomID)
	return nil
}

func (w *soakWorker) devices() error {
	return w.c.do("GET", "/_matrix/client/v3/devices", nil, nil)
}

// keys alternates between uploading five one-time keys and querying the
// user's device keys.
func (w *soakWorker) keys() error {
	if w.rng.IntN(2) == 0 {
		return w.c.do("POST", "/_matrix/client/v3/keys/query",
			map[string]any{"device_keys": map[string]any{w.c.userID: []string{}}}, nil)
	}
	otks := map[string]any{}
	for range 5 {
		w.seq++
		otks[fmt.Sprintf("signed_curve25519:S%dK%d", w.id, w.seq)] = map[string]any{
			"key":        base64.RawStdEncoding.EncodeToString(w.file[:32]),
			"signatures": map[string]any{w.c.userID: map[string]string{"ed25519:" + w.c.deviceID: "c2lnbmF0dXJl"}},
		}
	}
	return w.c.do("POST", "/_matrix/client/v3/keys/upload", map[string]any{"one_time_keys": otks}, nil)
}

// soakSample is one finished operation.
type soakSample struct {
	kind int
	lat  time.Duration
	err  error
}

// soakInterval is what the workers did in one interval.
type soakInterval struct {
	ops     int
	lat     [][]time.Duration // by kind
	all     []time.Duration
	errs    int
	rssKiB  int64
	dbBytes int64
	secs    float64
	// cpu is the server's CPU time (user and system) in the interval, or
	// a negative value when it could not be read.
	cpu time.Duration
	// load is the machine's one-minute load average at the interval's end.
	load string
}

func pctl(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// perOp is the server CPU time per operation, or "n/a".
func perOp(cpu time.Duration, ops int) string {
	if cpu < 0 || ops == 0 {
		return "n/a"
	}
	return ms(cpu / time.Duration(ops))
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 2, 64) + "ms" }

// rssKiB reads the server's resident memory from /proc, or -1.
func rssKiB(pid int) int64 {
	if pid == 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// cpuTime reads the server's CPU time so far (user and system) from
// /proc, or -1. The CPU time an operation costs the server depends far
// less on what else runs on the machine than its latency does.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	// Linux reports clock ticks of USER_HZ, 100 a second on every
	// architecture Go supports.
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// loadAverage is the first field of /proc/loadavg, or "n/a".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "n/a"
}

// soak runs the mixed load for total, reporting every interval.
func soak(base string, total, interval time.Duration, pid int, dbPath, regToken string) error {
	owner := &client{base: strings.TrimRight(base, "/"), http: &http.Client{
		Timeout:   120 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * soakClients},
	}}
	if err := owner.register(regToken); err != nil {
		return err
	}
	var room struct {
		RoomID string `json:"room_id"`
	}
	if err := owner.do("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "private_chat", "name": "soak"}, &room); err != nil {
		return err
	}
	rooms := &soakRooms{}
	rooms.add(room.RoomID)
	weights := 0
	for _, m := range soakMix {
		weights += m.weight
	}
	workers := make([]*soakWorker, soakClients)
	for i := range workers {
		c := &client{base: owner.base, http: owner.http, userID: owner.userID}
		var login struct {
			AccessToken string `json:"access_token"`
			DeviceID    string `json:"device_id"`
		}
		if err := c.do("POST", "/_matrix/client/v3/login", map[string]any{
			"type":       "m.login.password",
			"identifier": map[string]any{"type": "m.id.user", "user": owner.userID},
			"password":   loadPassword,
		}, &login); err != nil {
			return err
		}
		c.token, c.deviceID = login.AccessToken, login.DeviceID
		up := make([]byte, 8<<10)
		crand.Read(up)
		workers[i] = &soakWorker{c: c, id: i, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), rooms: rooms, file: up}
		// Each device publishes its keys once, as a client does at login.
		if err := c.do("POST", "/_matrix/client/v3/keys/upload", map[string]any{"device_keys": map[string]any{
			"user_id": c.userID, "device_id": c.deviceID,
			"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
			"keys": map[string]string{
				"curve25519:" + c.deviceID: base64.RawStdEncoding.EncodeToString(up[:32]),
				"ed25519:" + c.deviceID:    base64.RawStdEncoding.EncodeToString(up[32:64]),
			},
			"signatures": map[string]any{c.userID: map[string]string{"ed25519:" + c.deviceID: "c2lnbmF0dXJl"}},
		}}, nil); err != nil {
			return err
		}
	}
	fmt.Printf("soak: %d clients (devices of %s) for %s, reporting every %s; mix:", soakClients, owner.userID, total, interval)
	for _, m := range soakMix {
		fmt.Printf(" %s %d%%", m.name, m.weight*100/weights)
	}
	fmt.Printf("\nserver RSS at start: %s; database %.1f MB\n", rss(pid), float64(dbBytes(dbPath))/1e6)

	samples := make(chan soakSample, 4096)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n := w.rng.IntN(weights)
				k := 0
				for n >= soakMix[k].weight {
					n -= soakMix[k].weight
					k++
				}
				t := time.Now()
				err := soakMix[k].run(w)
				samples <- soakSample{kind: k, lat: time.Since(t), err: err}
			}
		}()
	}
	go func() { wg.Wait(); close(samples) }()

	newInterval := func() *soakInterval { return &soakInterval{lat: make([][]time.Duration, len(soakMix))} }
	var done []*soakInterval
	cur := newInterval()
	firstErr := map[string]error{}
	errCount := 0
	start := time.Now()
	last := start
	lastCPU := cpuTime(pid)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.After(total)
	report := func(now time.Time) {
		cur.secs = now.Sub(last).Seconds()
		last = now
		cur.rssKiB = rssKiB(pid)
		cur.dbBytes = dbBytes(dbPath)
		cur.load = loadAverage()
		cur.cpu = -1
		if c := cpuTime(pid); c >= 0 && lastCPU >= 0 {
			cur.cpu = c - lastCPU
			lastCPU = c
		}
		slices.Sort(cur.all)
		line := fmt.Sprintf("[%3d] %7.1f ops/s  p50 %8s  p99 %8s  rss %6.1f MiB  db %7.1f MB  cpu %s/op  load %s  errors %d\n     ",
			len(done)+1, float64(cur.ops)/cur.secs, ms(pctl(cur.all, .5)), ms(pctl(cur.all, .99)),
			float64(cur.rssKiB)/1024, float64(cur.dbBytes)/1e6, perOp(cur.cpu, cur.ops), cur.load, cur.errs)
		for k, m := range soakMix {
			slices.Sort(cur.lat[k])
			line += fmt.Sprintf(" %s %.1f/s %s/%s", m.name, float64(len(cur.lat[k]))/cur.secs,
				ms(pctl(cur.lat[k], .5)), ms(pctl(cur.lat[k], .99)))
		}
		fmt.Println(line)
		done = append(done, cur)
		cur = newInterval()
	}
loop:
	for {
		select {
		case s, ok := <-samples:
			if !ok {
				break loop
			}
			cur.ops++
			cur.lat[s.kind] = append(cur.lat[s.kind], s.lat)
			cur.all = append(cur.all, s.lat)
			if s.err != nil {
				cur.errs++
				errCount++
				if _, seen := firstErr[soakMix[s.kind].name]; !seen {
					firstErr[soakMix[s.kind].name] = s.err
					fmt.Fprintf(os.Stderr, "soak: first %s error: %v\n", soakMix[s.kind].name, s.err)
				}
			}
		case now := <-tick.C:
			report(now)
		case <-end:
			stop.Store(true)
			end = nil
		}
	}
	if cur.ops > 0 && time.Since(last) > interval/2 {
		report(time.Now())
	}
	summarize(done, time.Since(start))
	if errCount > 0 {
		return fmt.Errorf("%d operations failed", errCount)
	}
	return nil
}

// summarize compares the first and the last five intervals (fewer on a
// short run): throughput, latencies per kind and resident memory.
func summarize(iv []*soakInterval, took time.Duration) {
	n := min(5, len(iv)/2)
	if n == 0 {
		fmt.Printf("soak: ran %s, too short to compare\n", took.Round(time.Second))
		return
	}
	type window struct {
		ops          int
		secs         float64
		cpu          time.Duration
		lat          [][]time.Duration
		rssLo, rssHi int64
		db           int64
	}
	sum := func(part []*soakInterval) window {
		w := window{lat: make([][]time.Duration, len(soakMix)), rssLo: -1}
		for _, x := range part {
			w.ops += x.ops
			w.secs += x.secs
			if x.cpu < 0 || w.cpu < 0 {
				w.cpu = -1
			} else {
				w.cpu += x.cpu
			}
			for k := range soakMix {
				w.lat[k] = append(w.lat[k], x.lat[k]...)
			}
			if w.rssLo < 0 || x.rssKiB < w.rssLo {
				w.rssLo = x.rssKiB
			}
			w.rssHi = max(w.rssHi, x.rssKiB)
			w.db = x.dbBytes
		}
		for k := range w.lat {
			slices.Sort(w.lat[k])
		}
		return w
	}
	first, lastw := sum(iv[:n]), sum(iv[len(iv)-n:])
	f, l := float64(first.ops)/first.secs, float64(lastw.ops)/lastw.secs
	fmt.Printf("soak: ran %s; first %d intervals %.1f ops/s, last %d %.1f ops/s (%.0f%%)\n",
		took.Round(time.Second), n, f, n, l, 100*l/f)
	fmt.Printf("  server CPU per operation: first %s, last %s\n", perOp(first.cpu, first.ops), perOp(lastw.cpu, lastw.ops))
	fmt.Printf("  server RSS first %.1f–%.1f MiB, last %.1f–%.1f MiB; database %.1f MB at the end\n",
		float64(first.rssLo)/1024, float64(first.rssHi)/1024, float64(lastw.rssLo)/1024, float64(lastw.rssHi)/1024, float64(lastw.db)/1e6)
	for k, m := range soakMix {
		fmt.Printf("  %-10s first %7.1f/s p50 %8s p99 %8s   last %7.1f/s p50 %8s p99 %8s\n", m.name,
			float64(len(first.lat[k]))/first.secs, ms(pctl(first.lat[k], .5)), ms(pctl(first.lat[k], .99)),
			float64(len(lastw.lat[k]))/lastw.secs, ms(pctl(lastw.lat[k], .5)), ms(pctl(lastw.lat[k], .99)))
	}
}
