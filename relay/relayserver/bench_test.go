package relayserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

// versionHandler answers like a small federation endpoint.
var versionHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"server":{"name":"hearth","version":"0.1.0-dev"}}`))
})

func benchGet(b *testing.B, c *http.Client, url string) time.Duration {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return time.Since(start)
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkLatency compares one GET over HTTPS straight to the handler
// with the same GET through the relay to a node (HTTPS to the relay, one
// frame each way over the node's WebSocket).
func BenchmarkLatency(b *testing.B) {
	n := newTestNet(b)
	b.Run("direct", func(b *testing.B) {
		hs := httptest.NewUnstartedServer(versionHandler)
		hs.TLS = &tls.Config{Certificates: []tls.Certificate{n.cert}}
		hs.StartTLS()
		defer hs.Close()
		addr := hs.Listener.Addr().String()
		n.addr.Store(&addr)
		c := n.client()
		benchGet(b, c, "https://bob.relay.test/")
		d := make([]time.Duration, 0, b.N)
		for b.Loop() {
			d = append(d, benchGet(b, c, "https://bob.relay.test/"))
		}
		reportPercentiles(b, d)
	})
	b.Run("relay", func(b *testing.B) {
		tr := startRelay(b, n, b.TempDir(), nil)
		key := mustKey(b, "b1")
		node := startNode(b, n, "bob", tr.addNode(b, "bob"), key, versionHandler)
		waitFor(b, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })
		c := n.client()
		url := "https://bob.relay.test/_matrix/federation/v1/version"
		benchGet(b, c, url)
		d := make([]time.Duration, 0, b.N)
		for b.Loop() {
			d = append(d, benchGet(b, c, url))
		}
		reportPercentiles(b, d)
	})
}

// BenchmarkThroughput: requests per second through one node's connection,
// 32 callers at once.
func BenchmarkThroughput(b *testing.B) {
	n := newTestNet(b)
	tr := startRelay(b, n, b.TempDir(), func(c *relayserver.Config) { c.MaxInFlight = 64 })
	key := mustKey(b, "b1")
	node := startNode(b, n, "bob", tr.addNode(b, "bob"), key, versionHandler)
	waitFor(b, "bob is connected", func() bool { return node.client.Status().State == relay.StateConnected })
	c := n.client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	url := "https://bob.relay.test/_matrix/federation/v1/version"
	b.SetParallelism(32 / runtime.GOMAXPROCS(0))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchGet(b, c, url)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkIdleNodes measures the relay's memory per idle connected node:
// the nodes run in a child process (this test binary again), so only the
// relay's side is counted here: heap in use plus goroutine stacks, after a
// GC, with 1,000 nodes connected over TLS against none.
func BenchmarkIdleNodes(b *testing.B) {
	const nodes = 1000
	n := newTestNet(b)
	tr := startRelay(b, n, b.TempDir(), nil)
	tokens := make([]string, nodes)
	for i := range tokens {
		tokens[i] = tr.addNode(b, fmt.Sprintf("n%d", i))
	}
	tokFile := b.TempDir() + "/tokens"
	os.WriteFile(tokFile, []byte(strings.Join(tokens, "\n")), 0o600)
	caFile := n.caFile(b)
	before := relayMemory()
	g0 := runtime.NumGoroutine()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	// One measurement, however many iterations -benchtime asks for.
	for i := 0; b.Loop(); i++ {
		if i > 0 {
			continue
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleNodeChild$")
		cmd.Env = append(os.Environ(), "HEARTH_RELAY_CHILD="+*n.addr.Load()+","+tokFile+","+caFile)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitFor(b, "all nodes are connected", func() bool {
			for i := range nodes {
				if !tr.srv.Connected(fmt.Sprintf("n%d", i)) {
					return false
				}
			}
			return true
		})
		// Let the handshakes' garbage go.
		time.Sleep(500 * time.Millisecond)
		after := relayMemory()
		b.ReportMetric(float64(after-before)/nodes/1024, "KiB/node")
		b.ReportMetric(float64(after)/(1<<20), "MiB-total-1000-nodes")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/nodes, "goroutines/node")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.StackInuse-ms0.StackInuse)/nodes/1024, "stack-KiB/node")
		if f := os.Getenv("HEARTH_RELAY_HEAPPROFILE"); f != "" {
			out, _ := os.Create(f)
			pprof.WriteHeapProfile(out)
			out.Close()
		}
		stdin.Close()
		io.Copy(io.Discard, stdout)
		cmd.Wait()
	}
}

func relayMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// TestIdleNodeChild is BenchmarkIdleNodes' child: it connects the nodes
// and holds them until its standard input closes. It does nothing unless
// the benchmark started it.
func TestIdleNodeChild(t *testing.T) {
	spec := os.Getenv("HEARTH_RELAY_CHILD")
	if spec == "" {
		t.Skip("run by BenchmarkIdleNodes")
	}
	parts := strings.Split(spec, ",")
	raw, err := os.ReadFile(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	n := &testNet{caPEM: ca}
	n.addr.Store(&parts[0])
	n.pool = poolOf(t, ca)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for i, tok := range strings.Split(string(raw), "\n") {
		key := mustKey(t, "k"+strconv.Itoa(i))
		c, err := relay.NewClient(relay.ClientOptions{
			URL: "wss://" + domain + relay.ConnectPath, Token: tok, ServerName: fmt.Sprintf("n%d.%s", i, domain),
			Key: key, Handler: newRecorder(fmt.Sprintf("n%d.%s", i, domain), key), HTTPClient: n.client(), Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	cancel()
	wg.Wait()
}
