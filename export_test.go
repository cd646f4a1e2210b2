package hearth

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestHomeserverExport: an embedding app exports the running homeserver's
// database through the API; the copy, installed as another data folder's
// hearth.db, opens as the same server with the same owner.
func TestHomeserverExport(t *testing.T) {
	ctx := context.Background()
	hs := openTestHomeserver(t)
	if _, err := hs.CreateOwner(ctx, "me", "secret"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := hs.Export(ctx, &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	size, err := hs.Size(ctx)
	if err != nil || size <= 0 {
		t.Fatalf("Size = %d, %v", size, err)
	}
	if _, err := os.Stat(filepath.Join(hs.Config.DataDir, "hearth.db-export")); !os.IsNotExist(err) {
		t.Errorf("Export left its temporary copy in the data folder (%v)", err)
	}

	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	if err := os.WriteFile(cfg.DatabasePath(), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	copied, err := Open(ctx, cfg, OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open on the export: %v", err)
	}
	defer copied.Close()
	if copied.ServerName != hs.ServerName {
		t.Errorf("the export opens as %q, want %q", copied.ServerName, hs.ServerName)
	}
	if need, err := copied.NeedsOwner(ctx); err != nil || need {
		t.Errorf("the export has no owner (NeedsOwner = %v, %v)", need, err)
	}
	if err := copied.services.Accounts.CheckPassword(ctx, "@me:"+hs.ServerName, "secret"); err != nil {
		t.Errorf("the owner's password in the export: %v", err)
	}
}
