package harnesstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestArgsAndEnv(t *testing.T) {
	if got := os.Getenv("HEARTH_HARNESS_WANT"); got != "yes" {
		t.Errorf("HEARTH_HARNESS_WANT = %q, want \"yes\" (set with --env)", got)
	}
	if !slices.Contains(os.Args, "-test.v=true") && !slices.Contains(os.Args, "-test.v") {
		t.Errorf("os.Args = %q, want it to hold the -test.v given after the wasm file", os.Args)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(p, []byte("hello, world"), 0o644); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "hello, world" {
		t.Fatalf("ReadFile = %q, %v; want \"hello, world\"", got, err)
	}

	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	if _, err := f.Seek(7, io.SeekStart); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	if _, err := f.Write([]byte("WORLD")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	b := make([]byte, 5)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "hello" {
		t.Errorf("ReadAt = %q, %v; want \"hello\"", b, err)
	}
	if err := f.Truncate(5); err != nil {
		t.Errorf("Truncate: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != 5 || fi.IsDir() {
		t.Errorf("Stat = %v, %v; want a 5-byte file", fi, err)
	}

	f, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("OpenFile(append): %v", err)
	}
	fmt.Fprint(f, "!!")
	f.Close()
	if got, _ := os.ReadFile(p); string(got) != "hello!!" {
		t.Errorf("after append: %q, want \"hello!!\"", got)
	}

	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	if err := os.Rename(p, filepath.Join(dir, "sub", "b.txt")); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sub"))
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"b.txt", "deeper"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir = %q, want %q", names, want)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(renamed away) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.OpenFile(filepath.Join(dir, "sub", "b.txt"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("O_EXCL on an existing file error = %v, want fs.ErrExist", err)
	}
	if err := os.Remove(filepath.Join(dir, "sub")); err == nil {
		t.Errorf("Remove(non-empty dir) succeeded")
	}
	if err := os.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Errorf("RemoveAll: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("ReadDir after RemoveAll = %v, %v; want empty", entries, err)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
		t.Fatalf("WriteFile(big): %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "big")); err != nil || !bytes.Equal(got, big) {
		t.Errorf("ReadFile(big) = %d bytes, %v; want %d bytes back", len(got), err, len(big))
	}
}

// TestExitCode fails when asked to, so the harness's exit code can be checked.
func TestExitCode(t *testing.T) {
	if os.Getenv("HEARTH_HARNESS_FAIL") == "1" {
		t.Fatal("failing on purpose (HEARTH_HARNESS_FAIL=1)")
	}
}

// TestKill asks the harness to terminate the worker in phase "kill".
func TestKill(t *testing.T) {
	switch phase := os.Getenv("HEARTH_TEST_PHASE"); phase {
	case "kill":
		fmt.Println("HEARTH-TEST: terminate-worker")
		for {
			time.Sleep(time.Hour)
		}
	case "", "after":
	default:
		t.Fatalf("unknown phase %q", phase)
	}
}

func Example() {
	fmt.Println("hello from the worker")
	// Output: hello from the worker
}
