//go:build !js

package modules

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// This file is the native engine: wazero, its compiler where it has one.
// The browser build runs modules on the browser's own engine instead
// (browser_js.go), so wazero stays out of the tab's download.

// memCache is the compilation cache of Loads without a CacheDir: a module
// loaded again (a restart in the same process, tests) is not compiled
// again.
var memCache = wazero.NewCompilationCache()

// engine is what a Host's modules share: the compilation cache.
type engine struct {
	cache wazero.CompilationCache
	// own is the cache in CacheDir, closed with the host.
	own wazero.CompilationCache
	// interpreter runs the modules on wazero's interpreter.
	interpreter bool
}

func newEngine(opts Options) (*engine, error) {
	e := &engine{cache: memCache, interpreter: opts.Interpreter}
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("modules: compilation cache: %w", err)
		}
		e.cache, e.own = c, c
	}
	return e, nil
}

func (e *engine) close(ctx context.Context) error {
	if e == nil || e.own == nil {
		return nil
	}
	return e.own.Close(ctx)
}

// startAllowance is what starting an instance may take beyond the
// module's time cap: nothing, wazero starts it in this process.
const startAllowance = 0

// wasiOffers reports whether the host's WASI has the function name:
// wazero's has every function of wasi_snapshot_preview1 (and refuses to
// start a module that imports one it does not know).
func wasiOffers(string) bool { return true }

// code is a module's runtime (memory capped, closed when a call's context
// ends) and its compiled code.
type code struct {
	rt   wazero.Runtime
	code wazero.CompiledModule
}

// compile compiles bin in a runtime of its own, checks it against the ABI
// and adds WASI and the host functions to the runtime.
func (m *module) compile(ctx context.Context, e *engine, bin []byte) error {
	rc := wazero.NewRuntimeConfig()
	if e.interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	m.code.rt = wazero.NewRuntimeWithConfig(ctx, rc.
		WithMemoryLimitPages(m.spec.MemoryPages).WithCloseOnContextDone(true).WithCompilationCache(e.cache))
	var err error
	if m.code.code, err = m.code.rt.CompileModule(ctx, bin); err != nil {
		return fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	if err := m.checkCode(wazeroInfo(m.code.code)); err != nil {
		return err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.code.rt); err != nil {
		return err
	}
	return m.instantiateHost(ctx)
}

// wazeroInfo is what checkCode reads, from wazero's compiled module.
func wazeroInfo(c wazero.CompiledModule) codeInfo {
	info := codeInfo{funcs: map[string]funcType{}, memories: map[string]bool{}}
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		info.imports = append(info.imports, wasmImport{module: mod, name: name, kind: kindFunc})
	}
	for _, mem := range c.ImportedMemories() {
		mod, name, _ := mem.Import()
		info.imports = append(info.imports, wasmImport{module: mod, name: name, kind: kindMemory})
	}
	for name, f := range c.ExportedFunctions() {
		info.funcs[name] = funcType{params: f.ParamTypes(), results: f.ResultTypes()}
	}
	for name := range c.ExportedMemories() {
		info.memories[name] = true
	}
	return info
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
	mod, err := m.code.rt.InstantiateModule(ctx, m.code.code, cfg)
	if err != nil {
		return nil, err
	}
	return &instance{mod: mod, fns: map[string]api.Function{}}, nil
}

// abiVersion calls the instance's hearth_abi_version.
func (m *module) abiVersion(ctx context.Context, inst *instance) (int32, error) {
	res, err := inst.fn(exportABIVersion).Call(ctx)
	if err != nil {
		return 0, err
	}
	return int32(res[0]), nil
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
	if m.code.rt == nil {
		return
	}
	m.code.rt.Close(ctx)
	m.code.rt = nil
}
