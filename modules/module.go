package modules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
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
)

// callbacks are the callback exports a module may have, all (i32 ptr,
// i32 len) -> i64.
var callbacks = []string{cbCheckEventForSpam, cbUserMayInvite, cbUserMayJoinRoom, cbUserMayCreateRoom,
	cbCheckRegistrationForSpam, cbOnNewEvent, cbCheckAuth}

// maxAnswer bounds a callback's answer.
const maxAnswer = 1 << 20

// module is one loaded module: its runtime, its compiled code, and a pool
// of idle instances.
type module struct {
	name    string
	spec    Spec
	log     *slog.Logger
	config  []byte
	rt      wazero.Runtime
	code    wazero.CompiledModule
	exports map[string]bool
	// loginTypes are the login types check_auth takes (login_types).
	loginTypes []string
	idle       chan *instance
	stats      stats
}

// load compiles s and starts one instance, which checks the ABI.
func load(ctx context.Context, s Spec, opts Options, cache wazero.CompilationCache, log *slog.Logger) (*module, error) {
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
	m := &module{name: s.Name, spec: s, log: log.With("module", s.Name), config: cfg,
		exports: map[string]bool{}, idle: make(chan *instance, pool)}
	rc := wazero.NewRuntimeConfig()
	if opts.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	m.rt = wazero.NewRuntimeWithConfig(ctx, rc.
		WithMemoryLimitPages(s.MemoryPages).WithCloseOnContextDone(true).WithCompilationCache(cache))
	if m.code, err = m.rt.CompileModule(ctx, bin); err != nil {
		m.rt.Close(ctx)
		return nil, fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	if err := m.checkCode(); err != nil {
		m.rt.Close(ctx)
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
		m.rt.Close(ctx)
		return nil, err
	}
	if err := m.instantiateHost(ctx, opts.State); err != nil {
		m.rt.Close(ctx)
		return nil, err
	}
	// One instance now: the module must start, and speak our ABI.
	cctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	inst, err := m.instantiate(cctx)
	if err != nil {
		m.rt.Close(ctx)
		return nil, fmt.Errorf("does not start: %w", err)
	}
	res, err := inst.fn(exportABIVersion).Call(cctx)
	if err != nil {
		m.rt.Close(ctx)
		return nil, fmt.Errorf("%s: %w", exportABIVersion, err)
	}
	if v := int32(res[0]); v != ABIVersion {
		m.rt.Close(ctx)
		return nil, fmt.Errorf("speaks ABI version %d, this server speaks %d", v, ABIVersion)
	}
	if m.exports[exportLoginTypes] {
		out, err := m.callOn(cctx, inst, exportLoginTypes, nil)
		if err == nil {
			err = json.Unmarshal(out, &m.loginTypes)
		}
		if err != nil {
			m.rt.Close(ctx)
			return nil, fmt.Errorf("%s: %w", exportLoginTypes, err)
		}
		if !m.exports[cbCheckAuth] && len(m.loginTypes) > 0 {
			m.rt.Close(ctx)
			return nil, fmt.Errorf("declares login types but does not export %s", cbCheckAuth)
		}
	}
	m.put(inst)
	return m, nil
}

// checkCode checks the module's imports and exports against the ABI.
func (m *module) checkCode() error {
	for _, f := range m.code.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != hostModule && mod != wasi_snapshot_preview1.ModuleName {
			return fmt.Errorf("imports %s.%s, which this server does not offer (only %s and %s)",
				mod, name, hostModule, wasi_snapshot_preview1.ModuleName)
		}
		if mod == hostModule && !hostFunctions[name] {
			return fmt.Errorf("imports %s.%s, which this server does not offer", mod, name)
		}
	}
	if len(m.code.ImportedMemories()) > 0 {
		return errors.New("imports a memory (it must define its own)")
	}
	if _, ok := m.code.ExportedMemories()["memory"]; !ok {
		return errors.New(`does not export its memory as "memory"`)
	}
	fns := m.code.ExportedFunctions()
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := map[string][2][]api.ValueType{
		exportABIVersion: {nil, {i32}},
		exportAlloc:      {{i32}, {i32}},
		exportLoginTypes: {{i32, i32}, {i64}},
	}
	for _, cb := range callbacks {
		want[cb] = [2][]api.ValueType{{i32, i32}, {i64}}
	}
	any := false
	for name, sig := range want {
		f, ok := fns[name]
		if !ok {
			if name == exportABIVersion || name == exportAlloc {
				return fmt.Errorf("does not export %s (build it with hearth.dev/hearth/modules/guest, or see docs/modules.md)", name)
			}
			continue
		}
		if !sameTypes(f.ParamTypes(), sig[0]) || !sameTypes(f.ResultTypes(), sig[1]) {
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

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// instance is a started module with its exports looked up once.
type instance struct {
	mod api.Module
	fns map[string]api.Function
}

// fn returns the exported function name.
func (i *instance) fn(name string) api.Function {
	f, ok := i.fns[name]
	if !ok {
		f = i.mod.ExportedFunction(name)
		i.fns[name] = f
	}
	return f
}

// Close closes the instance.
func (i *instance) Close(ctx context.Context) error { return i.mod.Close(ctx) }

// instantiate starts a fresh instance: no arguments, no environment, no
// files, a fake clock, a seeded random source, stdout and stderr to the log.
func (m *module) instantiate(ctx context.Context) (*instance, error) {
	w := &logWriter{log: m.log}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
		WithStdout(w).WithStderr(w)
	mod, err := m.rt.InstantiateModule(ctx, m.code, cfg)
	if err != nil {
		return nil, err
	}
	return &instance{mod: mod, fns: map[string]api.Function{}}, nil
}

// get takes an idle instance, or starts one.
func (m *module) get(ctx context.Context) (*instance, error) {
	select {
	case inst := <-m.idle:
		return inst, nil
	default:
		return m.instantiate(ctx)
	}
}

// put returns a healthy instance to the pool, or closes it when the pool
// is full.
func (m *module) put(inst *instance) {
	select {
	case m.idle <- inst:
	default:
		inst.Close(context.Background())
	}
}

// call runs callback name with input under the module's time cap and
// returns its answer (nil for none). An instance that failed is closed,
// never reused; the failure is logged and counted.
func (m *module) call(ctx context.Context, name string, input []byte) ([]byte, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, m.spec.Timeout)
	defer cancel()
	inst, err := m.get(ctx)
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

// callOn runs callback name on inst: input goes into the buffer
// hearth_alloc returns, the answer comes back as (ptr << 32 | len).
func (m *module) callOn(ctx context.Context, inst *instance, name string, input []byte) ([]byte, error) {
	mem := inst.mod.Memory()
	var ptr uint32
	if len(input) > 0 {
		res, err := inst.fn(exportAlloc).Call(ctx, uint64(len(input)))
		if err != nil {
			return nil, failure(exportAlloc, err)
		}
		ptr = uint32(res[0])
		if !mem.Write(ptr, input) {
			return nil, fmt.Errorf("%s returned %#x, outside its memory", exportAlloc, ptr)
		}
	}
	res, err := inst.fn(name).Call(ctx, uint64(ptr), uint64(len(input)))
	if err != nil {
		return nil, failure(name, err)
	}
	rp, rn := uint32(res[0]>>32), uint32(res[0])
	if rn == 0 {
		return nil, nil
	}
	if rn > maxAnswer {
		return nil, fmt.Errorf("%s answered %d bytes, over the %d allowed", name, rn, maxAnswer)
	}
	b, ok := mem.Read(rp, rn)
	if !ok {
		return nil, fmt.Errorf("%s answered outside its memory", name)
	}
	return append([]byte(nil), b...), nil
}

// failure describes a failed call: a trap, an exit (the Go runtime exits
// when it runs out of memory), or the deadline.
func failure(name string, err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%s ran past its time cap", name)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("%s was cancelled", name)
		}
		return fmt.Errorf("%s exited with code %d (out of memory, or a panic)", name, exit.ExitCode())
	}
	return fmt.Errorf("%s trapped: %w", name, err)
}

// close releases the module's instances and runtime.
func (m *module) close(ctx context.Context) {
	if m.rt == nil {
		return
	}
	m.rt.Close(ctx)
	m.rt = nil
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
