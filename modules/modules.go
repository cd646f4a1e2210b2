// Package modules runs hearth's extensions: WebAssembly modules that export
// the callbacks of Synapse's module API (spam checks, invite, join and
// create-room rules, registration checks, an extra login type, after-commit
// notifications), called with JSON in their linear memory. The ABI is
// written down in docs/modules.md; package modules/guest is its module side
// for Go.
//
// Natively modules run on github.com/tetratelabs/wazero (wazero.go):
// compiled once at start, each module in its own runtime whose memory is
// capped, each call under its own deadline (the module is closed when it
// passes it). In the browser build they run on the browser's own
// WebAssembly engine (browser_js.go), an instance per dedicated worker that
// is terminated when a call passes its deadline; wazero is not in that
// build. Instances are pooled: an instance serves one call at a time and
// goes back to the pool unless the call failed. A module imports only the
// host functions listed in the ABI and a sandboxed WASI (no files, no
// environment, no network, a fake clock, stdout and stderr to the log); any
// other import refuses the module at start.
//
// Host implements core.Modules: the checks core calls (core.ModuleCallbacks),
// on_new_event after commit (core.PersistHook), and the admin API's list.
//
// Importing the package has no side effects.
package modules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hearth.dev/hearth/core"
)

// ABIVersion is the version of the module ABI this host speaks; a module's
// hearth_abi_version export must return it.
const ABIVersion = 1

// Defaults of a module's limits.
const (
	// DefaultMemoryPages caps a module's linear memory: 1024 pages of
	// 64 KiB, 64 MiB (a Go module needs a few MiB to start).
	DefaultMemoryPages = 1024
	// DefaultTimeout caps one call.
	DefaultTimeout = time.Second
)

// Failure policies (Spec.OnError).
const (
	OnErrorDeny  = "deny"
	OnErrorAllow = "allow"
)

// Spec describes one module to load.
type Spec struct {
	// Name names the module in logs, metrics and the admin API; empty
	// takes the file's base name without .wasm.
	Name string
	// Path is the module's .wasm file.
	Path string
	// Wasm, when set, is the module's code (Path then only names it).
	Wasm []byte
	// Config is handed to the module as JSON (nil: null).
	Config any
	// OnError is what a check answers when the module fails (traps, runs
	// out of memory or time, answers garbage): OnErrorDeny (the default)
	// refuses, OnErrorAllow lets the action through.
	OnError string
	// MemoryPages caps the module's memory in 64 KiB pages (0:
	// DefaultMemoryPages).
	MemoryPages uint32
	// Timeout caps one call (0: DefaultTimeout).
	Timeout time.Duration
}

// StateReader reads a room's current state event for the state_event
// host function.
type StateReader interface {
	// StateEvent returns the current state event (type, stateKey) of
	// roomID as JSON, or an error wrapping core.ErrNotFound.
	StateEvent(ctx context.Context, roomID, eventType, stateKey string) (json.RawMessage, error)
}

// Options are the host's collaborators.
type Options struct {
	// State answers the state_event host function (nil: no state).
	State StateReader
	// Logger receives the modules' log lines and failures (nil:
	// slog.Default()).
	Logger *slog.Logger
	// Pool is the number of idle instances kept per module (0: 4).
	Pool int
	// CacheDir keeps the modules' compiled code across restarts (empty:
	// in memory, for the life of the process). Native only.
	CacheDir string
	// Interpreter runs the modules with wazero's interpreter where its
	// compiler would be used (for benchmarks). Native only.
	Interpreter bool
}

// Host is the loaded modules, in configuration order.
type Host struct {
	mods []*module
	log  *slog.Logger
	// login maps the extra login types to the module that checks them.
	login map[string]*module
	// eng is what the modules share in the engine (the compilation cache).
	eng *engine
}

var (
	_ core.Modules = (*Host)(nil)
)

// Load compiles and checks every module of specs. A bad module (unreadable,
// not WebAssembly, importing what the host does not offer, without the ABI
// exports, of another ABI version, failing to start) is an error: one line
// per bad module, all joined. Close releases the modules.
func Load(ctx context.Context, specs []Spec, opts Options) (*Host, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	eng, err := newEngine(opts)
	if err != nil {
		return nil, err
	}
	h := &Host{log: log, login: map[string]*module{}, eng: eng}
	var errs []error
	names := map[string]bool{}
	for i, s := range specs {
		if s.Name == "" && s.Path != "" {
			s.Name = strings.TrimSuffix(filepath.Base(s.Path), ".wasm")
		} else if s.Name == "" {
			s.Name = fmt.Sprintf("module%d", i+1)
		}
		m, err := load(ctx, s, opts, h.eng, log)
		if err == nil && names[s.Name] {
			err = fmt.Errorf("another module has the name %q", s.Name)
		}
		if err == nil {
			for _, t := range m.loginTypes {
				if other := h.login[t]; other != nil {
					err = fmt.Errorf("login type %q is already checked by module %s", t, other.name)
				}
			}
		}
		if err != nil {
			if m != nil {
				m.close(ctx)
			}
			errs = append(errs, fmt.Errorf("module %s: %w", displayPath(s), err))
			continue
		}
		names[s.Name] = true
		for _, t := range m.loginTypes {
			h.login[t] = m
		}
		h.mods = append(h.mods, m)
	}
	if len(errs) > 0 {
		h.Close(ctx)
		return nil, errors.Join(errs...)
	}
	return h, nil
}

func displayPath(s Spec) string {
	if s.Path != "" {
		return s.Path
	}
	return s.Name
}

// readWasm returns the module's code.
func readWasm(s Spec) ([]byte, error) {
	if s.Wasm != nil {
		return s.Wasm, nil
	}
	if s.Path == "" {
		return nil, errors.New("no path")
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	return b, nil
}

// Close releases every module.
func (h *Host) Close(ctx context.Context) error {
	if h == nil {
		return nil
	}
	for _, m := range h.mods {
		m.closed.Store(true)
		m.close(ctx)
	}
	h.mods = nil
	return h.eng.close(ctx)
}

// Len is the number of loaded modules.
func (h *Host) Len() int {
	if h == nil {
		return 0
	}
	return len(h.mods)
}
