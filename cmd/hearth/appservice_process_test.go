package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAppServiceQueueSurvivesKill runs hearth serve as a real process with
// an application service that is down: messages sent meanwhile are
// queued; serve is killed with SIGKILL; the next serve delivers them all,
// in order, once, when the service is back.
func TestAppServiceQueueSurvivesKill(t *testing.T) {
	bin := hearthBinary(t)
	var mu sync.Mutex
	down, failures := true, 0
	var bodies, txns []string
	changed := make(chan struct{}, 1)
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		txn, ok := strings.CutPrefix(r.URL.Path, "/_matrix/app/v1/transactions/")
		if !ok || r.Header.Get("Authorization") != "Bearer k-hs" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var body struct {
			Events []struct {
				Type    string         `json:"type"`
				Content map[string]any `json:"content"`
			} `json:"events"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		defer func() {
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}()
		if down {
			failures++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		for _, seen := range txns {
			if seen == txn {
				io.WriteString(w, "{}")
				return
			}
		}
		txns = append(txns, txn)
		for _, ev := range body.Events {
			if ev.Type == "m.room.message" {
				bodies = append(bodies, fmt.Sprint(ev.Content["body"]))
			}
		}
		io.WriteString(w, "{}")
	}))
	defer as.Close()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(time.Minute) // a guard against hanging, not a timing assertion
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("the application service never saw %s", what)
			}
		}
	}

	dir := t.TempDir()
	reg := filepath.Join(t.TempDir(), "k.yaml")
	os.WriteFile(reg, []byte("id: k\nurl: "+as.URL+"\nas_token: k-as\nhs_token: k-hs\nsender_localpart: kbot\n"+
		"namespaces:\n  users: [{exclusive: true, regex: '@_k_.*:localhost'}]\n"), 0o600)
	create := exec.Command(bin, "user", "create", "--data-dir", dir, "--name", "owner", "--password-stdin")
	create.Stdin = strings.NewReader("owner's password\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	p := startServeProcess(t, "--data-dir", dir, "--app-service", reg)
	call := func(method, path, token string, body any) map[string]any {
		t.Helper()
		js, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, "http://"+p.addr+path, bytes.NewReader(js))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	owner := call("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": "owner"}, "password": "owner's password"})["access_token"].(string)
	room := call("POST", "/_matrix/client/v3/createRoom", owner, map[string]any{"invite": []string{"@_k_ghost:localhost"}})["room_id"].(string)
	call("POST", "/_matrix/client/v3/register", "k-as", map[string]any{"type": "m.login.application_service", "username": "_k_ghost", "inhibit_login": true})
	call("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/join?user_id="+url.QueryEscape("@_k_ghost:localhost"), "k-as", map[string]any{})
	var want []string
	for i := range 4 {
		b := fmt.Sprintf("queued %d", i)
		call("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(room)+"/send/m.room.message/k"+fmt.Sprint(i), owner, map[string]any{"body": b})
		want = append(want, b)
	}
	waitFor("a transaction while down", func() bool { return failures > 0 })
	p.stop(syscall.SIGKILL)

	mu.Lock()
	down = false
	mu.Unlock()
	next := startServeProcess(t, "--data-dir", dir, "--app-service", reg)
	waitFor("the queued messages", func() bool { return len(bodies) >= len(want) })
	mu.Lock()
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Errorf("after kill -9 the service received %q, want %q (in order, once)", bodies, want)
	}
	mu.Unlock()
	if err, log := next.stop(syscall.SIGTERM); err != nil {
		t.Errorf("serve did not stop cleanly: %v\n%s", err, log)
	}
}
