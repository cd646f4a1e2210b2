package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestExportIsPrivate: an export (and a database imported from one) is
// readable by its owner only.
func TestExportIsPrivate(t *testing.T) {
	dir := createDB(t)
	exported := filepath.Join(t.TempDir(), "export.db")
	if out, err := runCLI(t, "db", "export", "--data-dir", dir, exported); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	imported := filepath.Join(t.TempDir(), "imported")
	if out, err := runCLI(t, "db", "import", "--data-dir", imported, exported); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, path := range []string{exported, filepath.Join(imported, "hearth.db")} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", path, perm)
		}
	}
	if _, err := os.Stat(exported + ".partial"); !os.IsNotExist(err) {
		t.Errorf("a finished export left %s.partial behind (%v)", exported, err)
	}
}

// TestExportLeftoverRefused: an export that was killed leaves DEST.partial
// behind (never a half-written DEST); the next export to DEST says so and
// what to do, instead of failing on the half-written file.
func TestExportLeftoverRefused(t *testing.T) {
	dir := createDB(t)
	out := t.TempDir()
	dest := filepath.Join(out, "export.db")
	// What a kill -9 leaves: part of the copy, and its journal.
	whole := filepath.Join(out, "whole.db")
	if _, err := runCLI(t, "db", "export", "--data-dir", dir, whole); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(whole)
	os.WriteFile(dest+".partial", b[:len(b)/3], 0o600)
	os.WriteFile(dest+".partial-journal", b[:4096], 0o600)

	msg, err := runCLI(t, "db", "export", "--data-dir", dir, dest)
	if err == nil {
		t.Fatal("export went ahead beside a leftover partial export")
	}
	for _, want := range []string{dest + ".partial", "did not finish", "remove"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q (output %q) does not say %q", err, msg, want)
		}
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a refused export created %s (%v)", dest, err)
	}
	if got, _ := os.ReadFile(dest + ".partial"); len(got) != len(b)/3 {
		t.Error("the refused export touched the leftover")
	}
	os.Remove(dest + ".partial")
	os.Remove(dest + ".partial-journal")
	if _, err := runCLI(t, "db", "export", "--data-dir", dir, dest); err != nil {
		t.Errorf("export once the leftover is removed: %v", err)
	}
}

// hotJournalChildEnv makes the test binary a process that stops in the
// middle of a write to a database file (see hotJournalChild).
const hotJournalChildEnv = "HEARTH_TEST_HOT_JOURNAL_CHILD"

// hotJournalChild opens path in rollback-journal mode, starts a large
// write that spills into the file, says "ready" and waits to be killed:
// what a copy killed half-way leaves is a file with a hot journal.
func hotJournalChild(path string) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(delete)&_pragma=cache_size(8)")
	if err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err == nil {
		_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	}
	if err == nil {
		_, err = conn.ExecContext(ctx, "CREATE TABLE filler (b BLOB)")
	}
	for i := 0; err == nil && i < 64; i++ {
		_, err = conn.ExecContext(ctx, "INSERT INTO filler VALUES (randomblob(65536))")
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(4)
	}
	fmt.Println("ready")
	select {}
}

// TestImportInterruptedCopy: a database file whose writer was killed
// half-way (a hot journal beside it) is refused by import with a message
// that says so, not "attempt to write a readonly database".
func TestImportInterruptedCopy(t *testing.T) {
	dir := createDB(t)
	src := filepath.Join(t.TempDir(), "copy.db")
	if _, err := runCLI(t, "db", "export", "--data-dir", dir, src); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), hotJournalChildEnv+"="+src)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if line != "ready\n" {
		t.Fatalf("child: %q", line)
	}
	if st, err := os.Stat(src + "-journal"); err != nil || st.Size() == 0 {
		t.Fatalf("the killed writer left no journal: %v", err)
	}

	_, err = runCLI(t, "db", "import", "--data-dir", filepath.Join(t.TempDir(), "d"), src)
	if err == nil {
		t.Fatal("import accepted a half-written file")
	}
	if strings.Contains(err.Error(), "readonly") || !strings.Contains(err.Error(), "never finished") ||
		!strings.Contains(err.Error(), src+"-journal") {
		t.Errorf("import of a half-written file: %v", err)
	}
}
