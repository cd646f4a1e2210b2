package relayserver_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

// The node's client compiled to js/wasm, run by Node with its WebSocket
// (the browser's API), against a native relay: it connects with its
// token, reaches another node through the relay's outbound, and receives
// the transactions sent to it in order.
func TestRelayClientInWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the relay package for js/wasm")
	}
	execJS := filepath.Join(runtime.GOROOT(), "lib", "wasm", "go_js_wasm_exec")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("needs node")
	}
	if _, err := os.Stat(execJS); err != nil {
		t.Skip("needs go_js_wasm_exec")
	}
	bin := filepath.Join(t.TempDir(), "relay.test.wasm")
	build := exec.Command("go", "test", "-c", "-o", bin, "hearth.dev/hearth/relay")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the relay tests for js/wasm: %v\n%s", err, out)
	}

	st, err := relayserver.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := relayserver.New(relayserver.Config{Domain: domain, Store: st,
		Outbound: &relayserver.Outbound{Transport: handlerTransport{http.NotFoundHandler()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv) // plain HTTP: ws:// for Node
	t.Cleanup(hs.Close)
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + relay.ConnectPath

	carolKey := mustKey(t, "c1")
	carolTok, _ := srv.AddNode(context.Background(), "carol")
	carol, err := relay.NewClient(relay.ClientOptions{URL: wsURL, Token: carolTok, ServerName: "carol." + domain,
		Key: carolKey, Handler: newRecorder("carol."+domain, carolKey)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go carol.Run(ctx)
	waitFor(t, "carol is connected", func() bool { return srv.Connected("carol") })

	jsTok, _ := srv.AddNode(context.Background(), "js")
	cmd := exec.Command(execJS, bin, "-test.run=^TestJSNode$", "-test.v")
	cmd.Env = append(os.Environ(), "HEARTH_RELAY_JS_URL="+wsURL, "HEARTH_RELAY_JS_TOKEN="+jsTok)
	if out, _ := exec.Command("node", "-e", "process.stdout.write(typeof WebSocket)").Output(); string(out) != "function" {
		// Node before 22 has its WebSocket behind a flag.
		cmd.Env = append(cmd.Env, "NODE_OPTIONS=--experimental-websocket")
	}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	var log []string
	for lines.Scan() {
		log = append(log, lines.Text())
		if lines.Text() == "READY" {
			break
		}
	}
	if len(log) == 0 || log[len(log)-1] != "READY" {
		cmd.Wait()
		t.Fatalf("the js node never got ready:\n%s", strings.Join(log, "\n"))
	}
	c := &http.Client{Timeout: 30 * time.Second}
	for i := range 5 {
		req, _ := http.NewRequest("PUT", hs.URL+"/_matrix/federation/v1/send/t"+string(rune('0'+i)), strings.NewReader(`{"origin":"a.example","pdus":[]}`))
		req.Host = "js." + domain
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/send t%d to the js node: %d", i, resp.StatusCode)
		}
	}
	for lines.Scan() {
		log = append(log, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the js node failed: %v\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "--- PASS: TestJSNode") {
		t.Errorf("the js node's test did not pass:\n%s", strings.Join(log, "\n"))
	}
}
