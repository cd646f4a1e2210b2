package hearth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"hearth.dev/hearth/storage"
)

// TestDeferBackground: with OpenOptions.DeferBackground the homeserver
// serves before its background work starts; StartBackground starts it
// (background updates run), once; Close without it is clean, and it does
// nothing after Close.
func TestDeferBackground(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.ServerName = "defer.test"
	cfg.DataDir = t.TempDir()
	oo := OpenOptions{Logger: slog.New(slog.DiscardHandler), DeferBackground: true}
	hs, err := Open(ctx, cfg, oo)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ran := make(chan struct{}, 1)
	hs.updates.Register("test_deferred", func(ctx context.Context, q storage.Queryer, progress json.RawMessage, batch int) (json.RawMessage, int, bool, error) {
		select {
		case ran <- struct{}{}:
		default:
		}
		return progress, 0, true, nil
	})
	if err := hs.updates.Schedule(ctx, "test_deferred", "", 0); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	hs.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_matrix/client/versions", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /versions before StartBackground: %d %s", rec.Code, rec.Body)
	}
	if got := hs.updates.Status(); len(got) != 0 {
		t.Errorf("background updates ran before StartBackground: %+v", got)
	}
	hs.StartBackground()
	hs.StartBackground()
	<-ran // the test's deadline bounds the wait
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}

	// Never started: Close is clean and StartBackground after it is a no-op.
	hs, err = Open(ctx, cfg, oo)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	hs.StartBackground()
	hs.bgMu.Lock()
	started := hs.bgStarted
	hs.bgMu.Unlock()
	if started {
		t.Error("StartBackground after Close started the background work")
	}
}
