package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondServeRefused runs two real processes on one data folder: the
// second serve refuses to start with one line naming the lock file and the
// first one's process ID, while db export and user create keep working
// beside the running server. A killed server leaves no stale lock.
func TestSecondServeRefused(t *testing.T) {
	bin := hearthBinary(t)
	dir := t.TempDir()
	lock := filepath.Join(dir, "hearth.lock")
	first := startServeProcess(t, "--data-dir", dir)
	pid := fmt.Sprint(first.cmd.Process.Pid)
	if b, err := os.ReadFile(lock); err != nil || strings.TrimSpace(string(b)) != pid {
		t.Errorf("lock file holds %q, %v; want the server's pid %s", b, err, pid)
	}

	out, err := runRefused(t, bin, "serve", "--data-dir", dir)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("second serve on the same folder: %v (want exit status 1)\n%s", err, out)
	}
	line := strings.TrimSpace(out)
	if strings.Contains(line, "\n") || !strings.Contains(line, lock) || !strings.Contains(line, "process "+pid) {
		t.Errorf("second serve said %q; want one line naming %s and process %s", line, lock, pid)
	}

	// Beside the running server.
	create := exec.Command(bin, "user", "create", "--data-dir", dir, "--name", "kid", "--password-stdin")
	create.Stdin = strings.NewReader("kid's password\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Errorf("user create beside a running server: %v\n%s", err, out)
	}
	exported := filepath.Join(t.TempDir(), "export.db")
	if out, err := exec.Command(bin, "db", "export", "--data-dir", dir, exported).CombinedOutput(); err != nil {
		t.Errorf("db export beside a running server: %v\n%s", err, out)
	}

	// kill -9: the kernel lets the lock go; the next serve starts and
	// knows the user made beside the first one.
	first.stop(syscall.SIGKILL)
	next := startServeProcess(t, "--data-dir", dir)
	body, _ := json.Marshal(map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": "kid"},
		"password":   "kid's password",
	})
	resp, err := http.Post("http://"+next.addr+"/_matrix/client/v3/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("login as the user made beside the first server: %s", resp.Status)
	}
	if err, log := next.stop(syscall.SIGTERM); err != nil {
		t.Errorf("serve did not stop cleanly on SIGTERM: %v\n%s", err, log)
	}
	if b, err := os.ReadFile(lock); err != nil || len(b) != 0 {
		t.Errorf("lock file after a clean stop holds %q, %v; want it empty", b, err)
	}
}

// runRefused runs a serve that is expected to refuse to start and returns
// its output and exit error. Should it start serving instead, the test
// fails and the process is stopped.
func runRefused(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	addr := freeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, append(args, "--listen", addr)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			return out.String(), err
		default:
		}
		if resp, err := http.Get("http://" + addr + "/_matrix/client/versions"); err == nil {
			resp.Body.Close()
			t.Errorf("%v started serving", args)
			cmd.Process.Kill()
			return "", <-exited
		}
		select {
		case err := <-exited:
			return out.String(), err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
