package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

// roomRequest sends a client-server request with token and decodes the
// answer into out (when not nil); a status other than 200 fails the test.
func roomRequest(t *testing.T, addr, token, method, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e map[string]any
		json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("%s %s: %s %v", method, path, resp.Status, e)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// groupStates reads the state of every state group from the data folder's
// database, opened beside whatever else has it open.
func groupStates(t *testing.T, dir string) map[int64]core.StateMap {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(dir, "hearth.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Reader().QueryContext(ctx, "SELECT id FROM state_groups")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	states, err := storage.NewEventStore(db).StatesAt(ctx, ids, core.AllState)
	if err != nil {
		t.Fatal(err)
	}
	return states
}

var rowCounts = regexp.MustCompile(`state_groups_state:\s+(\d+) rows before, (\d+) after`)

// TestDBCompressStateBesideServe runs `hearth db compress-state` on the
// data folder of a running server (its own process) that has a room with
// 250 state changes (one level of 300 groups, so that a room this small
// shrinks): the rows shrink, every state group keeps its state,
// the server goes on storing state events, and a second run walks only the
// groups made since.
func TestDBCompressStateBesideServe(t *testing.T) {
	dir := t.TempDir()
	if _, err := runUser(t, "pw\n", "create", "--data-dir", dir, "--name", "owner", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	srv := startServeProcess(t, "--data-dir", dir, "--rate-limits", "off", "--state-compression-enabled", "false")
	token := login(t, srv.addr, "owner", "pw")
	var created struct {
		RoomID string `json:"room_id"`
	}
	roomRequest(t, srv.addr, token, "POST", "/_matrix/client/v3/createRoom", map[string]any{}, &created)
	room := url.PathEscape(created.RoomID)
	setState := func(i int) {
		roomRequest(t, srv.addr, token, "PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/state/x.test/k%d", room, i),
			map[string]any{"n": i}, nil)
	}
	for i := range 250 {
		setState(i)
	}
	before := groupStates(t, dir)

	out, err := runCLI(t, "db", "compress-state", "--data-dir", dir, "--levels", "300")
	if err != nil {
		t.Fatalf("compress-state: %v\n%s", err, out)
	}
	if !strings.Contains(out, "] groups ") || !strings.Contains(out, "rooms 1/1") {
		t.Errorf("compress-state showed no progress:\n%s", out)
	}
	m := rowCounts.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("compress-state printed no row counts:\n%s", out)
	}
	rowsBefore, _ := strconv.Atoi(m[1])
	rowsAfter, _ := strconv.Atoi(m[2])
	// One level of 300: the room's 250 changes become one row each, its
	// two snapshots go.
	if rowsAfter*2 > rowsBefore {
		t.Errorf("state_groups_state went from %d to %d rows; want at least 2x fewer", rowsBefore, rowsAfter)
	}

	// The server goes on, on the compressed groups.
	for i := 250; i < 270; i++ {
		setState(i)
	}
	var st []struct {
		Type     string `json:"type"`
		StateKey string `json:"state_key"`
	}
	roomRequest(t, srv.addr, token, "GET", "/_matrix/client/v3/rooms/"+room+"/state", nil, &st)
	n := 0
	for _, e := range st {
		if e.Type == "x.test" {
			n++
		}
	}
	if n != 270 {
		t.Errorf("room state has %d x.test keys; want 270", n)
	}

	after := groupStates(t, dir)
	for g, want := range before {
		if diff := cmp.Diff(want, after[g]); diff != "" {
			t.Fatalf("state group %d changed (-before +after):\n%s", g, diff)
		}
	}
	if len(after) < len(before)+20 {
		t.Errorf("%d state groups after 20 more state events; want at least %d", len(after), len(before)+20)
	}

	out, err = runCLI(t, "db", "compress-state", "--data-dir", dir, "--levels", "300", "--room", created.RoomID)
	if err != nil {
		t.Fatalf("second compress-state: %v\n%s", err, out)
	}
	walked := regexp.MustCompile(`state groups:\s+(\d+) walked`).FindStringSubmatch(out)
	if walked == nil {
		t.Fatalf("second compress-state printed no group count:\n%s", out)
	}
	if w, _ := strconv.Atoi(walked[1]); w < 20 || w > len(after)-len(before) {
		t.Errorf("second run walked %d groups; want the %d made since the first", w, len(after)-len(before))
	}
	again := groupStates(t, dir)
	for g, want := range after {
		if diff := cmp.Diff(want, again[g]); diff != "" {
			t.Fatalf("state group %d changed by the second run (-before +after):\n%s", g, diff)
		}
	}
}

func TestDBCompressStateBadInput(t *testing.T) {
	dir := createDB(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--levels", "10,x"}, "not a size"},
		{[]string{"--state-compression-levels", "0"}, "state_compression.levels"},
	} {
		out, err := runCLI(t, append([]string{"db", "compress-state", "--data-dir", dir}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error()+out, tt.want) {
			t.Errorf("compress-state %v: %v\n%s; want an error saying %q", tt.args, err, out, tt.want)
		}
	}
	if out, err := runCLI(t, "db", "compress-state", "--data-dir", t.TempDir()); err == nil {
		t.Errorf("compress-state without a database succeeded:\n%s", out)
	}
	out, err := runCLI(t, "db", "compress-state", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "rooms:               0 of 0") {
		t.Errorf("compress-state of an empty database: %v\n%s", err, out)
	}
}
