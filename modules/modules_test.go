package modules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/modules/moduletest"
)

const (
	keywordFilter = "hearth.dev/hearth/examples/modules/keyword-filter"
	loopModule    = "hearth.dev/hearth/modules/testdata/loop"
	allocModule   = "hearth.dev/hearth/modules/testdata/alloc"
	noCallbacks   = "hearth.dev/hearth/modules/testdata/nocallbacks"
	stateReader   = "hearth.dev/hearth/modules/testdata/statereader"
)

func mustLoad(t *testing.T, opts Options, specs ...Spec) *Host {
	t.Helper()
	h, err := Load(context.Background(), specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func message(body string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"type": "m.room.message", "room_id": "!r:example.org",
		"sender": "@a:example.org", "content": map[string]string{"msgtype": "m.text", "body": body}})
	return b
}

func TestKeywordFilter(t *testing.T) {
	h := mustLoad(t, Options{}, Spec{Path: moduletest.Build(t, keywordFilter), Config: map[string]any{"words": []string{"Casino"}}})
	err := h.CheckEventForSpam(context.Background(), "$e1", message("win big at the CASINO tonight"))
	if !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("CheckEventForSpam(filtered word) = %v, want M_FORBIDDEN", err)
	}
	if me := (*core.Error)(nil); !errors.As(err, &me) || me.Status != 403 {
		t.Fatalf("refusal %#v is not a 403", err)
	}
	if err := h.CheckEventForSpam(context.Background(), "$e2", message("see you tonight")); err != nil {
		t.Fatalf("CheckEventForSpam(clean message) = %v, want nil", err)
	}
	// Escaped and non-ASCII bodies take the exact path.
	for _, raw := range []string{`{"type":"m.room.message","content":{"body":"CAS\u0049NO!"}}`,
		`{"type":"m.room.message","content":{"body":"café casino"}}`,
		`{"type":"m.room.message","content":{"body":"x","formatted_body":"<b>casino</b>"}}`} {
		if err := h.CheckEventForSpam(context.Background(), "$e", json.RawMessage(raw)); !errors.Is(err, core.ErrForbidden) {
			t.Errorf("CheckEventForSpam(%s) = %v, want M_FORBIDDEN", raw, err)
		}
	}
	topic := json.RawMessage(`{"type":"m.room.topic","state_key":"","content":{"body":"casino"}}`)
	if err := h.CheckEventForSpam(context.Background(), "$e3", topic); err != nil {
		t.Fatalf("CheckEventForSpam(not a message) = %v, want nil", err)
	}
	st := h.ModuleInfo()
	if len(st) != 1 || st[0].Name != "keyword-filter" || st[0].Calls != 6 || st[0].Failures != 0 || st[0].P99Micros <= 0 {
		t.Fatalf("Stats() = %+v, want keyword-filter with 6 calls, no failures, a p99", st)
	}
	if got := st[0].Callbacks; len(got) != 1 || got[0] != cbCheckEventForSpam {
		t.Fatalf("callbacks = %v, want [check_event_for_spam]", got)
	}
}

// TestLoopIsCancelled: a call past its time cap is cancelled, refused
// (on_error deny) or let through (allow), counted as a failure, and the
// module keeps serving.
func TestLoopIsCancelled(t *testing.T) {
	path := moduletest.Build(t, loopModule)
	for _, policy := range []string{"", OnErrorAllow} {
		t.Run("on_error="+policy, func(t *testing.T) {
			var logs bytes.Buffer
			// The cap also bounds the next call, which starts a fresh
			// instance (the Go runtime's start inside the module): on a
			// busy machine that took over 100 ms, so the cap is 1 s.
			h := mustLoad(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
				Spec{Path: path, OnError: policy, Timeout: time.Second})
			err := h.CheckEventForSpam(context.Background(), "$e", message("hello"))
			if policy == OnErrorAllow {
				if err != nil {
					t.Fatalf("CheckEventForSpam = %v, want nil under on_error allow", err)
				}
			} else if !errors.Is(err, core.ErrForbidden) {
				t.Fatalf("CheckEventForSpam = %v, want M_FORBIDDEN under on_error deny", err)
			}
			if err := h.UserMayCreateRoom(context.Background(), "@a:example.org"); err != nil {
				t.Fatalf("UserMayCreateRoom after the timeout = %v", err)
			}
			st := h.ModuleInfo()[0]
			if st.Failures != 1 || st.FailuresBy[cbCheckEventForSpam] != 1 || st.Calls != 2 {
				t.Fatalf("stats = %+v, want 2 calls, 1 failure of check_event_for_spam", st)
			}
			if !strings.Contains(logs.String(), "module=loop") || !strings.Contains(logs.String(), "time cap") {
				t.Fatalf("log does not name the module and its time cap:\n%s", logs.String())
			}
		})
	}
}

// TestAllocTraps: a module that allocates past its memory cap fails the
// call, and a fresh instance serves the next one.
func TestAllocTraps(t *testing.T) {
	h := mustLoad(t, Options{}, Spec{Path: moduletest.Build(t, allocModule), MemoryPages: 512, Timeout: 10 * time.Second})
	err := h.CheckEventForSpam(context.Background(), "$e", message("hello"))
	if !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("CheckEventForSpam = %v, want a refusal", err)
	}
	if err := h.UserMayCreateRoom(context.Background(), "@a:example.org"); err != nil {
		t.Fatalf("UserMayCreateRoom after the trap = %v", err)
	}
	if st := h.ModuleInfo()[0]; st.Failures != 1 {
		t.Fatalf("failures = %d, want 1", st.Failures)
	}
}

// TestBadModules: every bad module is one line of Load's error, naming its
// file.
func TestBadModules(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "notwasm.wasm")
	if err := os.WriteFile(notWasm, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.wasm")
	none := moduletest.Build(t, noCallbacks)
	good := moduletest.Build(t, keywordFilter)
	_, err := Load(context.Background(), []Spec{{Path: notWasm}, {Path: good}, {Path: missing}, {Path: none},
		{Path: good, Name: "kf2", OnError: "maybe"}}, Options{})
	if err == nil {
		t.Fatal("Load of bad modules succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("Load error has %d lines, want 4:\n%v", len(lines), err)
	}
	for i, want := range []string{notWasm + ": not a valid WebAssembly module", missing + ": no such file",
		none + ": exports none of the callbacks", good + `: on_error is "maybe"`} {
		if !strings.HasPrefix(lines[i], "module "+want) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], "module "+want)
		}
	}
}

// stateMap is a StateReader over fixed events.
type stateMap map[string]json.RawMessage

func (s stateMap) StateEvent(_ context.Context, roomID, typ, key string) (json.RawMessage, error) {
	if ev, ok := s[roomID+"|"+typ+"|"+key]; ok {
		return ev, nil
	}
	return nil, core.ErrNotFound
}

func TestStateLoginAndNewEvents(t *testing.T) {
	var logs bytes.Buffer
	state := stateMap{"!closed:example.org|m.room.topic|": json.RawMessage(`{"type":"m.room.topic","content":{"topic":"closed"}}`)}
	h := mustLoad(t, Options{State: state, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		Spec{Path: moduletest.Build(t, stateReader)})
	ctx := context.Background()
	err := h.UserMayJoinRoom(ctx, "@a:example.org", "!closed:example.org", false)
	if me := (*core.Error)(nil); !errors.As(err, &me) || me.ErrCode != "ORG.EXAMPLE_CLOSED" || me.Status != 403 {
		t.Fatalf("UserMayJoinRoom(closed room) = %v, want ORG.EXAMPLE_CLOSED 403\n%s", err, logs.String())
	}
	if err := h.UserMayJoinRoom(ctx, "@a:example.org", "!open:example.org", false); err != nil {
		t.Fatalf("UserMayJoinRoom(open room) = %v", err)
	}
	if got := h.LoginTypes(); len(got) != 1 || got[0] != "org.example.magic" {
		t.Fatalf("LoginTypes() = %v", got)
	}
	uid, err := h.CheckAuth(ctx, "org.example.magic", json.RawMessage(`{"type":"org.example.magic","user":"@a:example.org","password":"sesame"}`))
	if err != nil || uid != "@a:example.org" {
		t.Fatalf("CheckAuth(right word) = %q, %v", uid, err)
	}
	if _, err := h.CheckAuth(ctx, "org.example.magic", json.RawMessage(`{"user":"@a:example.org","password":"x"}`)); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("CheckAuth(wrong word) = %v, want M_FORBIDDEN", err)
	}
	if _, err := h.CheckAuth(ctx, "m.login.other", nil); err == nil {
		t.Fatal("CheckAuth(unknown type) succeeded")
	}
	h.EventsPersisted(ctx, []core.NewEvent{{EventID: "$live", JSON: []byte(`{"type":"m.room.message","content":{}}`)},
		{EventID: "$outlier", Outlier: true, JSON: []byte(`{}`)}}, core.PersistOptions{})
	if !strings.Contains(logs.String(), "new event $live") || strings.Contains(logs.String(), "$outlier") {
		t.Fatalf("on_new_event log:\n%s", logs.String())
	}
}

func TestWithEventID(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"type":"x"}`, `{"event_id":"$a","type":"x"}`},
		{`{}`, `{"event_id":"$a"}`},
		{`{"event_id":"$b","type":"x"}`, `{"event_id":"$b","type":"x"}`},
	} {
		if got := string(WithEventID("$a", json.RawMessage(c.in))); got != c.want {
			t.Errorf("WithEventID(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestConcurrentCalls: calls from many goroutines each get an instance of
// their own from the pool (run with -race).
func TestConcurrentCalls(t *testing.T) {
	h := mustLoad(t, Options{Pool: 2}, Spec{Path: moduletest.Build(t, keywordFilter), Config: map[string]any{"words": []string{"casino"}}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := h.CheckEventForSpam(context.Background(), "$e", message("hello")); err != nil {
					t.Error(err)
				}
				if err := h.CheckEventForSpam(context.Background(), "$f", message("casino night")); !errors.Is(err, core.ErrForbidden) {
					t.Errorf("filtered word: %v", err)
				}
				h.ModuleInfo()
			}
		}()
	}
	wg.Wait()
	if st := h.ModuleInfo()[0]; st.Calls != 400 || st.Failures != 0 {
		t.Fatalf("calls %d, failures %d; want 400, 0", st.Calls, st.Failures)
	}
	if n := h.mods[0].pooled(); n > 2 {
		t.Fatalf("%d idle instances kept, over the pool of 2", n)
	}
}
