package modules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"hearth.dev/hearth/core"
)

// Callback export names (docs/modules.md).
const (
	cbCheckEventForSpam        = "check_event_for_spam"
	cbUserMayInvite            = "user_may_invite"
	cbUserMayJoinRoom          = "user_may_join_room"
	cbUserMayCreateRoom        = "user_may_create_room"
	cbCheckRegistrationForSpam = "check_registration_for_spam"
	cbOnNewEvent               = "on_new_event"
	cbCheckAuth                = "check_auth"
	exportLoginTypes           = "login_types"
	exportABIVersion           = "hearth_abi_version"
	exportAlloc                = "hearth_alloc"
	hostModule                 = "hearth"
	wasiModule                 = "wasi_snapshot_preview1"
)

// callbacks are the callback exports a module may have, all (i32 ptr,
// i32 len) -> i64.
var callbacks = []string{cbCheckEventForSpam, cbUserMayInvite, cbUserMayJoinRoom, cbUserMayCreateRoom,
	cbCheckRegistrationForSpam, cbOnNewEvent, cbCheckAuth}

// hostFunctions are the functions of the "hearth" import module.
var hostFunctions = map[string]bool{"log": true, "config": true, "state_event": true}

// Results of state_event besides a length.
const (
	stateNotFound = -1
	stateError    = -2
)

// maxAnswer bounds a callback's answer.
const maxAnswer = 1 << 20

// module is one loaded module: what the engine compiled (code, in the
// engine's file: wazero.go natively, browser_js.go in the tab) and a pool
// of idle instances.
type module struct {
	name    string
	spec    Spec
	log     *slog.Logger
	config  []byte
	state   StateReader
	code    code
	exports map[string]bool
	// loginTypes are the login types check_auth takes (login_types).
	loginTypes []string
	idle       chan *instance
	stats      stats
	// closed is set once the host closes the module: an instance that
	// comes back from a call then is closed, not pooled.
	closed atomic.Bool
}

// load compiles s and starts one instance, which checks the ABI.
func load(ctx context.Context, s Spec, opts Options, eng *engine, log *slog.Logger) (*module, error) {
	switch s.OnError {
	case "":
		s.OnError = OnErrorDeny
	case OnErrorDeny, OnErrorAllow:
	default:
		return nil, fmt.Errorf("on_error is %q, not allow or deny", s.OnError)
	}
	if s.MemoryPages == 0 {
		s.MemoryPages = DefaultMemoryPages
	}
	if s.MemoryPages > 65536 {
		return nil, fmt.Errorf("memory cap of %d pages is over the 65536 of a 32-bit memory", s.MemoryPages)
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	cfg, err := json.Marshal(s.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	bin, err := readWasm(s)
	if err != nil {
		return nil, err
	}
	pool := opts.Pool
	if pool <= 0 {
		pool = 4
	}
	m := &module{name: s.Name, spec: s, log: log.With("module", s.Name), config: cfg, state: opts.State,
		exports: map[string]bool{}, idle: make(chan *instance, pool)}
	if err := m.compile(ctx, eng, bin); err != nil {
		m.close(ctx)
		return nil, err
	}
	// One instance now: the module must start, and speak our ABI.
	inst, err := m.start(ctx)
	if err != nil {
		m.close(ctx)
		return nil, fmt.Errorf("does not start: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	v, err := m.abiVersion(cctx, inst)
	if err != nil {
		inst.Close(ctx)
		m.close(ctx)
		return nil, fmt.Errorf("%s: %w", exportABIVersion, err)
	}
	if v != ABIVersion {
		inst.Close(ctx)
		m.close(ctx)
		return nil, fmt.Errorf("speaks ABI version %d, this server speaks %d", v, ABIVersion)
	}
	if m.exports[exportLoginTypes] {
		out, err := m.callOn(cctx, inst, exportLoginTypes, nil)
		if err == nil {
			err = json.Unmarshal(out, &m.loginTypes)
		}
		if err == nil && !m.exports[cbCheckAuth] && len(m.loginTypes) > 0 {
			err = fmt.Errorf("declares login types but does not export %s", cbCheckAuth)
		} else if err != nil {
			err = fmt.Errorf("%s: %w", exportLoginTypes, err)
		}
		if err != nil {
			inst.Close(ctx)
			m.close(ctx)
			return nil, err
		}
	}
	m.put(inst)
	return m, nil
}

// valType is a WebAssembly value type, in the binary format's encoding
// (wazero's api.ValueType uses the same bytes).
type valType = byte

const (
	valI32 valType = 0x7f
	valI64 valType = 0x7e
)

// funcType is a function's parameter and result types.
type funcType struct{ params, results []valType }

// Kinds of imports and exports.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
	kindTag    = 4
)

// wasmImport is one import of a module.
type wasmImport struct {
	module, name string
	kind         byte
}

// codeInfo is what checkCode reads of a compiled module: its imports, its
// exported functions with their types, its exported memories.
type codeInfo struct {
	imports  []wasmImport
	funcs    map[string]funcType
	memories map[string]bool
}

// checkCode checks the module's imports and exports against the ABI, and
// notes which of the callbacks it exports.
func (m *module) checkCode(info codeInfo) error {
	for _, im := range info.imports {
		switch {
		case im.kind == kindMemory:
			return errors.New("imports a memory (it must define its own)")
		case im.module != hostModule && im.module != wasiModule:
			return fmt.Errorf("imports %s.%s, which this server does not offer (only %s and %s)",
				im.module, im.name, hostModule, wasiModule)
		case im.kind != kindFunc,
			im.module == hostModule && !hostFunctions[im.name],
			im.module == wasiModule && !wasiOffers(im.name):
			return fmt.Errorf("imports %s.%s, which this server does not offer", im.module, im.name)
		}
	}
	if !info.memories["memory"] {
		return errors.New(`does not export its memory as "memory"`)
	}
	i32, i64 := valI32, valI64
	want := map[string]funcType{
		exportABIVersion: {nil, []valType{i32}},
		exportAlloc:      {[]valType{i32}, []valType{i32}},
		exportLoginTypes: {[]valType{i32, i32}, []valType{i64}},
	}
	for _, cb := range callbacks {
		want[cb] = funcType{[]valType{i32, i32}, []valType{i64}}
	}
	any := false
	for name, sig := range want {
		f, ok := info.funcs[name]
		if !ok {
			if name == exportABIVersion || name == exportAlloc {
				return fmt.Errorf("does not export %s (build it with hearth.dev/hearth/modules/guest, or see docs/modules.md)", name)
			}
			continue
		}
		if string(f.params) != string(sig.params) || string(f.results) != string(sig.results) {
			return fmt.Errorf("exports %s with the wrong signature", name)
		}
		m.exports[name] = true
		if name != exportABIVersion && name != exportAlloc && name != exportLoginTypes {
			any = true
		}
	}
	if !any {
		return errors.New("exports none of the callbacks (docs/modules.md lists them)")
	}
	return nil
}

// get takes an idle instance, or starts one.
func (m *module) get(ctx context.Context) (*instance, error) {
	select {
	case inst := <-m.idle:
		return inst, nil
	default:
		return m.start(ctx)
	}
}

// start starts an instance under its own cap: the module's time cap plus
// what the engine needs to start one (startAllowance: a worker in the
// browser).
func (m *module) start(ctx context.Context) (*instance, error) {
	sctx, cancel := context.WithTimeout(ctx, m.spec.Timeout+startAllowance)
	defer cancel()
	inst, err := m.instantiate(sctx)
	if err != nil && sctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("ran past its time cap of %s", m.spec.Timeout+startAllowance)
	}
	return inst, err
}

// put returns a healthy instance to the pool, or closes it when the pool
// is full.
func (m *module) put(inst *instance) {
	if m.closed.Load() {
		inst.Close(context.Background())
		return
	}
	select {
	case m.idle <- inst:
	default:
		inst.Close(context.Background())
	}
}

// call runs callback name with input under the module's time cap (an
// instance that has to be started first is under its own) and returns its
// answer (nil for none). An instance that failed is closed,
// never reused; the failure is logged and counted.
func (m *module) call(ctx context.Context, name string, input []byte) ([]byte, error) {
	start := time.Now()
	inst, err := m.get(ctx)
	ctx, cancel := context.WithTimeout(ctx, m.spec.Timeout)
	defer cancel()
	if err == nil {
		var out []byte
		out, err = m.callOn(ctx, inst, name, input)
		if err == nil {
			m.put(inst)
			m.stats.record(name, time.Since(start), false)
			return out, nil
		}
		inst.Close(context.Background())
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("ran past its time cap of %s", m.spec.Timeout)
	}
	m.stats.record(name, time.Since(start), true)
	m.log.Warn("module call failed", "callback", name, "err", err)
	return nil, err
}

// stateAnswer answers state_event: the event's JSON, or nil and
// stateNotFound or stateError.
func (m *module) stateAnswer(ctx context.Context, room, typ, key string) ([]byte, int32) {
	if m.state == nil {
		return nil, stateNotFound
	}
	ev, err := m.state.StateEvent(ctx, room, typ, key)
	if errors.Is(err, core.ErrNotFound) {
		return nil, stateNotFound
	}
	if err != nil {
		m.log.Warn("state_event", "room", room, "type", typ, "state_key", key, "err", err)
		return nil, stateError
	}
	return ev, int32(len(ev))
}

// pooled is the number of idle instances (for tests).
func (m *module) pooled() int { return len(m.idle) }

// logWriter puts an instance's stdout and stderr in the log, a record per
// line (cut at 1 KiB), at most maxOutputLines lines per instance: a Go
// module's crash dumps every goroutine.
type logWriter struct {
	log   *slog.Logger
	mu    sync.Mutex
	line  []byte
	lines int
}

const maxOutputLines = 40

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range p {
		if c != '\n' {
			if len(w.line) < 1024 {
				w.line = append(w.line, c)
			}
			continue
		}
		w.lines++
		switch {
		case w.lines < maxOutputLines:
			w.log.Info("module output", "text", string(w.line))
		case w.lines == maxOutputLines:
			w.log.Info("module output", "text", "(more output dropped)")
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// logLevel is the slog level of the log host function's level.
func logLevel(level int32) slog.Level {
	switch level {
	case 0:
		return slog.LevelDebug
	case 2:
		return slog.LevelWarn
	case 3:
		return slog.LevelError
	}
	return slog.LevelInfo
}
