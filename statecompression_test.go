package hearth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/storage"
)

// TestStateCompressionJob: a room with 200 state changes is made with the
// job off; reopened with state_compression on (every second, one level of
// 300 groups), the server compresses it by itself: the room's rows shrink
// and every state group keeps its state, and the server goes on taking
// state events.
func TestStateCompressionJob(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.ServerName = "compress.test"
	cfg.DataDir = t.TempDir()
	cfg.RateLimits = "off"
	cfg.StateCompression.Enabled = "false"
	open := func() *Homeserver {
		hs, err := Open(ctx, cfg, OpenOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return hs
	}
	hs := open()
	owner, err := hs.CreateOwner(ctx, "owner", "owner password")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hs.Handler)
	c := client{t: t, url: srv.URL}
	token := c.login(owner, "owner password")
	roomID, _ := c.ok("POST", "/_matrix/client/v3/createRoom", token, map[string]any{})["room_id"].(string)
	room := url.PathEscape(roomID)
	for i := range 200 {
		c.ok("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/state/x.test/k%d", room, i), token, map[string]any{"n": i})
	}
	srv.Close()
	roomRows := func(hs *Homeserver) int {
		var n int
		if err := hs.db.Reader().QueryRowContext(ctx,
			"SELECT count(*) FROM state_groups_state WHERE room_id = ?", roomID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, states := roomRows(hs), allGroupStates(t, hs.db)
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.StateCompression = StateCompressionConfig{Enabled: "true", Interval: "1s", Levels: "300"}
	hs = open()
	defer hs.Close()
	var newest int64
	if err := hs.db.Reader().QueryRowContext(ctx, "SELECT max(id) FROM state_groups WHERE room_id = ?", roomID).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	// Wait for the job to reach the room's newest group.
	for {
		var last int64
		err := hs.db.Reader().QueryRowContext(ctx,
			"SELECT coalesce(max(last_group), 0) FROM state_compressor_progress WHERE room_id = ?", roomID).Scan(&last)
		if err != nil {
			t.Fatal(err)
		}
		if last >= newest {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after := roomRows(hs); after*2 > before {
		t.Errorf("the room's state_groups_state rows went from %d to %d; want at least 2x fewer", before, after)
	}
	got := allGroupStates(t, hs.db)
	if diff := cmp.Diff(states, got); diff != "" {
		t.Errorf("state groups changed by the job (-before +after):\n%s", diff)
	}
	srv = httptest.NewServer(hs.Handler)
	defer srv.Close()
	c = client{t: t, url: srv.URL}
	c.ok("PUT", "/_matrix/client/v3/rooms/"+room+"/state/x.test/after", token, map[string]any{"n": -1})
	if got := c.ok("GET", "/_matrix/client/v3/rooms/"+room+"/state/x.test/k7", token, nil); got["n"] != float64(7) {
		t.Errorf("x.test k7 after the job = %v", got)
	}
}

func TestStateCompressionConfig(t *testing.T) {
	for _, tt := range []struct {
		c  StateCompressionConfig
		ok bool
	}{
		{StateCompressionConfig{Enabled: "true", Interval: "1h", Levels: "32,32,32"}, true},
		{StateCompressionConfig{Enabled: "false", Interval: "10m", Levels: "100,50,25"}, true},
		{StateCompressionConfig{Enabled: "yes", Interval: "1h", Levels: "32"}, false},
		{StateCompressionConfig{Enabled: "true", Interval: "soon", Levels: "32"}, false},
		{StateCompressionConfig{Enabled: "true", Interval: "10ms", Levels: "32"}, false},
		{StateCompressionConfig{Enabled: "true", Interval: "1h", Levels: "32,0"}, false},
	} {
		cfg := DefaultConfig()
		cfg.StateCompression = tt.c
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v; want ok %v", tt.c, err, tt.ok)
		}
	}
}

// allGroupStates reads every state group's state from the database,
// without a cache.
func allGroupStates(t *testing.T, db *storage.DB) map[int64]core.StateMap {
	t.Helper()
	ctx := context.Background()
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
