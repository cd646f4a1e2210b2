//go:build unix

package hearth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenLocksDataDir(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "new", "data")
	oo := OpenOptions{Logger: slog.New(slog.DiscardHandler)}
	hs, err := Open(ctx, cfg, oo)
	if err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(cfg.DataDir, LockFileName)
	b, err := os.ReadFile(lock)
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, %v; want pid %d", b, err, os.Getpid())
	}

	_, err = Open(ctx, cfg, oo)
	var inUse *DataDirInUseError
	if !errors.Is(err, ErrDataDirInUse) || !errors.As(err, &inUse) || inUse.Lock != lock || inUse.PID != fmt.Sprint(os.Getpid()) {
		t.Fatalf("second Open of a held folder: %v", err)
	}
	if err := hs.Close(); err != nil {
		t.Fatal(err)
	}
	hs, err = Open(ctx, cfg, oo)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	hs.Close()

	// A refused Open lets the lock go too.
	cfg.ServerName = "other.example"
	if _, err := Open(ctx, cfg, oo); err == nil || errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("Open as another server name: %v", err)
	}
	cfg.ServerName = ""
	hs, err = Open(ctx, cfg, oo)
	if err != nil {
		t.Fatalf("Open after a refused Open: %v", err)
	}
	hs.Close()
}
