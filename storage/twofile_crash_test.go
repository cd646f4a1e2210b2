package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ncruces/go-sqlite3/vfs"
	"hearth.dev/hearth/core"
)

// The kill -9 test of two-file mode: a child process stores state events,
// each with a new state group, through a VFS that kills the process at the
// worst moment, when a commit has written one file's WAL and is about to
// write the other's. The parent then opens the files as hearth does and
// checks that they agree: every stored event has its state group and its
// state, no group is left that nothing names, and new groups do not take
// the IDs of lost ones.
const twoFileCrashEnv = "HEARTH_STORAGE_TWOFILE_CRASH_CHILD"

// crashVFS is the operating system's VFS, except that once armed it kills
// the process the first time a write goes to a WAL file other than the one
// written just before.
type crashVFS struct {
	vfs.VFS
	armed   atomic.Bool
	mu      sync.Mutex
	lastWAL string
}

func (c *crashVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, out, err := c.VFS.(vfs.VFSFilename).OpenFilename(name, flags)
	if err != nil {
		return nil, out, err
	}
	return &crashFile{File: f, name: name.String(), vfs: c}, out, nil
}

func (f *crashFile) Unwrap() vfs.File { return f.File }

type crashFile struct {
	vfs.File
	name string
	vfs  *crashVFS
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	if f.vfs.armed.Load() && strings.HasSuffix(f.name, "-wal") {
		f.vfs.mu.Lock()
		if f.vfs.lastWAL != "" && f.vfs.lastWAL != f.name {
			fmt.Println("killed before writing", filepath.Base(f.name))
			self, _ := os.FindProcess(os.Getpid())
			self.Kill()
			select {} // the signal is on its way
		}
		f.vfs.lastWAL = f.name
		f.vfs.mu.Unlock()
	}
	return f.File.WriteAt(p, off)
}

const (
	crashRoom = "!crash:" + testServer
	keptRoom  = "!kept:" + testServer
)

// crashChain returns n state events of crashRoom named
// prefix0..prefixN-1, each adding its own key and based on the one before
// (the first on after, if set), as createRoom builds them.
func crashChain(prefix string, n int, after string, depth int64) []core.NewEvent {
	return roomChain(crashRoom, prefix, n, after, depth)
}

// roomChain is crashChain in room.
func roomChain(room, prefix string, n int, after string, depth int64) []core.NewEvent {
	var out []core.NewEvent
	prev := after
	for i := range n {
		name := fmt.Sprintf("%s%d", prefix, i)
		sk := name
		ev := core.NewEvent{
			EventID: eventID(name), RoomID: room, Type: "org.example.key", StateKey: &sk,
			Sender: "@alice:" + testServer, Depth: depth + int64(i), OriginServerTS: 1_700_000_000_000,
			FormatVersion: 2,
			NewStateGroup: &core.StateGroupDelta{Changes: core.StateMap{{Type: "org.example.key", StateKey: sk}: eventID(name)}},
		}
		if prev != "" {
			ev.PrevEvents = []string{prev}
			ev.NewStateGroup.PrevEvent = prev
		}
		ev.JSON = eventJSON(&ev, `{"n":1}`)
		out = append(out, ev)
		prev = ev.EventID
	}
	return out
}

// twoFileCrashChild runs the child of a two-file kill -9 test: "persist:DIR"
// cuts off a batch of events, "purge:DIR" a room purge.
func twoFileCrashChild(arg string) {
	mode, dir, _ := strings.Cut(arg, ":")
	crash := &crashVFS{VFS: vfs.Find("os")}
	vfs.Register("crash", crash)
	ctx := context.Background()
	db, err := Open(ctx, Options{Path: filepath.Join(dir, "hearth.db"), StatePath: filepath.Join(dir, "state.db"),
		VFS: "crash", Logger: quietLog})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	s := NewEventStore(db)
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: crashRoom, RoomVersion: "12"}); err != nil {
		fmt.Println("room:", err)
		os.Exit(3)
	}
	if _, err := s.PersistEvents(ctx, crashChain("a", 3, "", 1), core.PersistOptions{}); err != nil {
		fmt.Println("persist a:", err)
		os.Exit(4)
	}
	// Another room, whose state groups are newer than crashRoom's.
	if err := s.StoreRoom(ctx, core.RoomInfo{RoomID: keptRoom, RoomVersion: "12"}); err != nil {
		fmt.Println("room:", err)
		os.Exit(3)
	}
	if _, err := s.PersistEvents(ctx, roomChain(keptRoom, "k", 2, "", 1), core.PersistOptions{}); err != nil {
		fmt.Println("persist k:", err)
		os.Exit(4)
	}
	fmt.Println("acked a")
	crash.armed.Store(true)
	if mode == "purge" {
		if _, err := NewAdminRoomStore(db, testServer).PurgeRoom(ctx, crashRoom); err != nil {
			fmt.Println("purge:", err)
			os.Exit(4)
		}
		fmt.Println("purged")
		os.Exit(0)
	}
	if _, err := s.PersistEvents(ctx, crashChain("b", 3, eventID("a2"), 4), core.PersistOptions{}); err != nil {
		fmt.Println("persist b:", err)
		os.Exit(4)
	}
	fmt.Println("acked b")
	os.Exit(0)
}

// runCrashChild runs the child in mode, checks that it was killed
// mid-commit after acknowledging its first batch, and returns the store
// reopened as hearth opens it.
func runCrashChild(t *testing.T, mode string) *EventStore {
	t.Helper()
	if runtime.GOOS == "js" || testVFS != "" {
		t.Skip("needs a child process and the operating system's files")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), twoFileCrashEnv+"="+mode+":"+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 || len(lines) < 2 || lines[0] != "acked a" ||
		!strings.HasPrefix(lines[1], "killed before writing") {
		t.Fatalf("child: %v, output %q; want it killed mid-commit after acknowledging batch a", err, lines)
	}
	t.Logf("child: %s", strings.Join(lines, "; "))
	return newTestStoreWith(t, Options{Path: filepath.Join(dir, "hearth.db"), StatePath: filepath.Join(dir, "state.db"), Logger: quietLog})
}

func TestTwoFilesSurviveKill9MidCommit(t *testing.T) {
	s := runCrashChild(t, "persist")
	ctx := context.Background()
	// checkStates checks that each stored event of chain has the state of
	// the chain up to it, and returns how many are stored.
	checkStates := func(chain []string) int {
		t.Helper()
		want := core.StateMap{}
		stored := 0
		for _, name := range chain {
			want[core.StateKey{Type: "org.example.key", StateKey: name}] = eventID(name)
			if _, err := s.Event(ctx, eventID(name)); errors.Is(err, core.ErrNotFound) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			stored++
			got, err := s.StateAtEvent(ctx, eventID(name), core.AllState)
			if err != nil {
				t.Errorf("state at stored event %s: %v", name, err)
				continue
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state at %s (-want +got):\n%s", name, diff)
			}
		}
		return stored
	}
	if n := checkStates([]string{"a0", "a1", "a2"}); n != 3 {
		t.Errorf("%d of the 3 acknowledged events survived", n)
	}
	if n := checkStates([]string{"a0", "a1", "a2", "b0", "b1", "b2"}); n != 3 && n != 6 {
		t.Errorf("%d events stored: the cut-off batch is half there", n)
	}
	var orphans int
	if err := s.db.Reader().QueryRow(
		"SELECT count(*) FROM state_groups WHERE id > (SELECT max(state_group) FROM event_to_state_groups)").Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d state groups that no event names are left after reopening", orphans)
	}

	// New groups neither take a lost group's ID nor change older states.
	if _, err := s.PersistEvents(ctx, crashChain("c", 3, eventID("a2"), 4), core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	checkStates([]string{"a0", "a1", "a2", "b0", "b1", "b2"})
	checkStates([]string{"a0", "a1", "a2", "c0", "c1", "c2"})
}

// TestTwoFilesSurviveKill9MidPurge cuts off a room purge between its
// hearth.db and state file writes: after reopening, the room is either
// whole or gone with its state groups, never events without their state.
func TestTwoFilesSurviveKill9MidPurge(t *testing.T) {
	s := runCrashChild(t, "purge")
	ctx := context.Background()
	var events, groups int
	if err := s.db.Reader().QueryRow(`SELECT
		(SELECT count(*) FROM events e JOIN rooms r USING (room_nid) WHERE r.room_id = ?1),
		(SELECT count(*) FROM state_groups WHERE room_id = ?1)`, crashRoom).Scan(&events, &groups); err != nil {
		t.Fatal(err)
	}
	switch {
	case events == 0 && groups == 0:
		// Gone.
	case events == 3:
		for _, name := range []string{"a0", "a1", "a2"} {
			if _, err := s.StateAtEvent(ctx, eventID(name), core.AllState); err != nil {
				t.Errorf("room kept after the cut-off purge: state at %s: %v", name, err)
			}
		}
	default:
		t.Errorf("after the cut-off purge the room has %d events and %d state groups", events, groups)
	}
	if events == 0 {
		if _, err := s.Room(ctx, crashRoom); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("room without events still stored: %v", err)
		}
	}
	got, err := s.StateAtEvent(ctx, eventID("k1"), core.AllState)
	want := core.StateMap{{Type: "org.example.key", StateKey: "k0"}: eventID("k0"), {Type: "org.example.key", StateKey: "k1"}: eventID("k1")}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("state of the other room: %v (-want +got):\n%s", err, diff)
	}
}
