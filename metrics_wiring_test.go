package hearth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
)

// TestMetricsThroughOpen checks that metrics.listen turns the metrics on
// through Open: requests to the client API are counted by route pattern,
// and the scrape-time values are there.
func TestMetricsThroughOpen(t *testing.T) {
	off := DefaultConfig()
	if off.Metrics.Listen != "" {
		t.Errorf("metrics.listen defaults to %q, want off", off.Metrics.Listen)
	}
	off.DataDir = t.TempDir()
	hsOff, err := Open(context.Background(), off, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hsOff.Metrics != nil {
		t.Error("metrics built with metrics.listen empty")
	}
	hsOff.Close()

	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Metrics.Listen = "127.0.0.1:0"
	hs, err := Open(context.Background(), cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close() })
	if hs.Metrics == nil {
		t.Fatal("no metrics with metrics.listen set")
	}
	app := httptest.NewServer(hs.Handler)
	t.Cleanup(app.Close)
	scrapeSrv := httptest.NewServer(hs.Metrics)
	t.Cleanup(scrapeSrv.Close)

	ctx := context.Background()
	userID := "@alice:" + hs.ServerName
	if _, err := hs.services.Accounts.CreateAccount(ctx, core.NewAccount{UserID: userID, Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	tok, err := hs.services.Accounts.IssueTokens(ctx, core.NewLogin{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) {
		t.Helper()
		req, _ := http.NewRequest("GET", app.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/health", "")
	get("/_matrix/client/v3/sync", tok.AccessToken)
	get("/_matrix/client/v3/rooms/!secret:x/state", tok.AccessToken)
	get("/_matrix/client/v3/rooms/!secret:x/state", "")

	resp, err := http.Get(scrapeSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(b)
	for _, want := range []string{
		`hearth_http_requests_total{endpoint="/health",method="GET",status="200"} 1`,
		`hearth_http_requests_total{endpoint="/_matrix/client/v3/sync",method="GET",status="200"} 1`,
		`hearth_http_requests_total{endpoint="/_matrix/client/v3/rooms/{roomId}/state",method="GET",status="401"} 1`,
		`hearth_http_request_duration_seconds_count{endpoint="/_matrix/client/v3/sync",method="GET"} 1`,
		"hearth_sync_waiters 0",
		"hearth_db_writer_queue_depth ",
		`hearth_db_writer_batch_size_bucket{le="+Inf"} `,
		"hearth_db_writer_busy_seconds_total ",
		"hearth_db_checkpoints_total ",
		"hearth_db_checkpoint_frames_total ",
		"hearth_db_read_transactions_total ",
		"hearth_db_writer_commit_seconds_total ",
		`hearth_db_writer_writes_total{write="storage.`,
		`hearth_db_writer_write_seconds_total{write="storage.`,
		"hearth_background_updates_pending ",
		"# TYPE hearth_federation_queue_depth gauge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, "!secret") {
		t.Error("a raw path reached the metrics")
	}
	if !strings.Contains(out, "hearth_database_size_bytes ") || strings.Contains(out, "hearth_database_size_bytes 0\n") {
		t.Error("database size missing or zero")
	}
	if strings.Contains(out, "hearth_db_writer_batch_size_count 0\n") {
		t.Error("the writer counted no batch")
	}
}
