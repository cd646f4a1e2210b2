package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"hearth.dev/hearth"
)

// TestEmbedRuns builds the example, runs it on a fresh data folder, logs
// in as the owner it made through the API it serves, stops it with
// SIGTERM, and checks it exited cleanly and let its data folder go.
func TestEmbedRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "app-data")
	cmd := exec.Command(bin, "-data", data, "-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "EMBED_OWNER_PASSWORD=owner's password")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	next := func() string {
		if !lines.Scan() {
			cmd.Wait()
			t.Fatalf("the example ended early:\n%s", stderr.String())
		}
		return lines.Text()
	}
	if got := next(); got != "created @owner:localhost" {
		t.Fatalf("first line %q, want the owner created", got)
	}
	url, ok := strings.CutPrefix(next(), "serving ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("no serving line (got %q)", url)
	}

	resp, err := http.Get(url + "/_matrix/client/versions")
	if err != nil {
		t.Fatal(err)
	}
	var versions struct{ Versions []string }
	json.NewDecoder(resp.Body).Decode(&versions)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(versions.Versions) == 0 {
		t.Fatalf("/versions: %s %v", resp.Status, versions)
	}
	body, _ := json.Marshal(map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": "owner"},
		"password":   "owner's password",
	})
	resp, err = http.Post(url+"/_matrix/client/v3/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("owner login through the embedded API: %s", resp.Status)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the example did not exit cleanly on SIGTERM: %v\n%s", err, stderr.String())
	}
	if strings.TrimSpace(string(rest)) != "stopped" {
		t.Errorf("after SIGTERM it printed %q, want \"stopped\"", rest)
	}
	// Closed cleanly: the folder is free and holds the owner.
	cfg := hearth.DefaultConfig()
	cfg.DataDir = data
	hs, err := hearth.Open(context.Background(), cfg, hearth.OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("reopening the example's data folder: %v", err)
	}
	defer hs.Close()
	if need, err := hs.NeedsOwner(context.Background()); err != nil || need {
		t.Errorf("the owner is gone after the restart (NeedsOwner = %v, %v)", need, err)
	}
}
