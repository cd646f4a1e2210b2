package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The hearth binary, built once for the tests that run it as a process.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	if path := os.Getenv(hotJournalChildEnv); path != "" {
		hotJournalChild(path)
		return
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// hearthBinary builds ./cmd/hearth (once per test run) and returns its path.
func hearthBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "hearth-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "hearth")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = &buildError{err, out}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "build: " + e.err.Error() + "\n" + string(e.out) }

// serveProcess is a `hearth serve` running as a process of its own.
type serveProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer // read it only once exited is closed
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

// startServeProcess starts the binary's serve on a free loopback port with
// args and waits until /versions answers. The process is killed when the
// test ends if it is still running.
func startServeProcess(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	bin := hearthBinary(t)
	p := &serveProcess{addr: freeAddr(t), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append(append([]string{"serve"}, args...), "--listen", p.addr, "--log-level", "warn")...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	for {
		resp, err := http.Get("http://" + p.addr + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("serve %v exited before serving: %v\n%s", args, p.err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends sig and returns how the process ended and what it logged.
func (p *serveProcess) stop(sig os.Signal) (error, string) {
	p.cmd.Process.Signal(sig)
	<-p.exited
	return p.err, p.stderr.String()
}
