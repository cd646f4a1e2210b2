package modules

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"
)

// This file is the browser's engine: the homeserver's worker compiles each
// module once with WebAssembly.Module and runs every instance in a
// dedicated worker of its own (moduleworker.js, started from a blob URL so
// that every host of the tab's build has it), which a call past its time
// cap terminates: JavaScript cannot stop a module's loop any other way.
// The memory cap is written into the module's memory limits before it is
// compiled (wasmbin.go). Calls are messages; the calling goroutine waits
// for the answer or for its deadline.

//go:embed moduleworker.js
var workerSource string

// workerURL is the blob URL of moduleworker.js, made once.
var workerURL = sync.OnceValue(func() js.Value {
	blob := js.Global().Get("Blob").New([]any{workerSource}, map[string]any{"type": "text/javascript"})
	return js.Global().Get("URL").Call("createObjectURL", blob)
})

// engine is empty in the browser: the browser caches nothing for us.
type engine struct{}

func newEngine(Options) (*engine, error) { return &engine{}, nil }

func (*engine) close(context.Context) error { return nil }

// wasiNames are the functions of wasi_snapshot_preview1; moduleworker.js
// has them all (most answer EBADF or ENOSYS: there are no files).
var wasiNames = map[string]bool{}

func init() {
	for _, n := range []string{"args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get", "clock_time_get",
		"fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get", "fd_fdstat_set_flags",
		"fd_fdstat_set_rights", "fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread",
		"fd_prestat_get", "fd_prestat_dir_name", "fd_pwrite", "fd_read", "fd_readdir", "fd_renumber", "fd_seek",
		"fd_sync", "fd_tell", "fd_write", "path_create_directory", "path_filestat_get", "path_filestat_set_times",
		"path_link", "path_open", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
		"path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get", "sock_accept",
		"sock_recv", "sock_send", "sock_shutdown"} {
		wasiNames[n] = true
	}
}

// startAllowance is what starting an instance may take beyond the
// module's time cap: a new worker, which a busy browser may take a while
// to give.
const startAllowance = 10 * time.Second

func wasiOffers(name string) bool { return wasiNames[name] }

// code is the compiled module (a WebAssembly.Module, which a worker
// instantiates) and its config as a Uint8Array.
type code struct {
	mod    js.Value
	config js.Value
}

// compile checks bin against the ABI, caps its memory and compiles it.
func (m *module) compile(_ context.Context, _ *engine, bin []byte) error {
	w, err := parseWasm(bin)
	if err != nil {
		return fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	if err := m.checkCode(w.info); err != nil {
		return err
	}
	if bin, err = capMemory(bin, w, m.spec.MemoryPages); err != nil {
		return err
	}
	mod, err := jsTry(func() js.Value {
		return js.Global().Get("WebAssembly").Get("Module").New(bytesToJS(bin))
	})
	if err != nil {
		return fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	m.code = code{mod: mod, config: bytesToJS(m.config)}
	return nil
}

// close forgets the compiled module; the idle instances' workers end.
func (m *module) close(context.Context) {
	for {
		select {
		case inst := <-m.idle:
			inst.Close(context.Background())
		default:
			m.code = code{}
			return
		}
	}
}

// instance is one instance of the module, in a worker of its own.
type instance struct {
	w       js.Value
	onmsg   js.Func
	onerr   js.Func
	replies chan js.Value
	out     *logWriter
	abi     int32
	closed  bool
}

// Close terminates the instance's worker.
func (i *instance) Close(context.Context) error {
	if !i.closed {
		i.closed = true
		i.w.Call("terminate")
		i.onmsg.Release()
		i.onerr.Release()
	}
	return nil
}

// instantiate starts a worker and an instance in it: no arguments, no
// environment, no files, a fake clock, a seeded random source, stdout and
// stderr to the log.
func (m *module) instantiate(ctx context.Context) (*instance, error) {
	if m.code.mod.IsUndefined() {
		return nil, errors.New("the module is closed")
	}
	worker, err := jsTry(func() js.Value { return js.Global().Get("Worker").New(workerURL()) })
	if err != nil {
		return nil, fmt.Errorf("cannot start a worker: %w", err)
	}
	i := &instance{w: worker, replies: make(chan js.Value, 1), out: &logWriter{log: m.log}}
	i.onmsg = js.FuncOf(func(_ js.Value, args []js.Value) any {
		d := args[0].Get("data")
		m.logs(i, d.Get("logs"))
		select {
		case i.replies <- d:
		default:
		}
		return nil
	})
	i.onerr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		fail := js.Global().Get("Object").New()
		fail.Set("t", "fail")
		fail.Set("msg", "the module's worker failed: "+args[0].Get("message").String())
		select {
		case i.replies <- fail:
		default:
		}
		return nil
	})
	worker.Set("onmessage", i.onmsg)
	worker.Set("onerror", i.onerr)
	msg := js.Global().Get("Object").New()
	msg.Set("t", "init")
	msg.Set("module", m.code.mod)
	msg.Set("config", m.code.config)
	worker.Call("postMessage", msg)
	d, err := i.wait(ctx)
	if err == nil && d.Get("t").String() != "ready" {
		err = errors.New(d.Get("msg").String())
	}
	if err != nil {
		i.Close(ctx)
		return nil, err
	}
	i.abi = int32(d.Get("abi").Int())
	return i, nil
}

// wait waits for the worker's next answer, or for ctx's end.
func (i *instance) wait(ctx context.Context) (js.Value, error) {
	select {
	case d := <-i.replies:
		return d, nil
	case <-ctx.Done():
		return js.Value{}, ctx.Err()
	}
}

// logs puts the logs of a worker's answer in the log: the module's log
// calls and its stdout and stderr.
func (m *module) logs(i *instance, logs js.Value) {
	if logs.Type() != js.TypeObject {
		return
	}
	for k := range logs.Length() {
		l := logs.Index(k)
		if out := l.Get("out"); !out.IsUndefined() {
			b := make([]byte, out.Get("length").Int())
			js.CopyBytesToGo(b, out)
			i.out.Write(b)
			continue
		}
		m.log.Log(context.Background(), logLevel(int32(l.Get("level").Int())), l.Get("text").String())
	}
}

// abiVersion is what the instance's hearth_abi_version answered at start.
func (m *module) abiVersion(_ context.Context, inst *instance) (int32, error) {
	return inst.abi, nil
}

// maxStateRounds bounds the state events one call may ask for.
const maxStateRounds = 32

// callOn runs callback name on inst. A call that asks for a state event
// the worker was not given is run again with the answer (moduleworker.js
// says why).
func (m *module) callOn(ctx context.Context, inst *instance, name string, input []byte) ([]byte, error) {
	in := bytesToJS(input)
	state := js.Global().Get("Array").New()
	for range maxStateRounds {
		msg := js.Global().Get("Object").New()
		msg.Set("t", "call")
		msg.Set("name", name)
		msg.Set("input", in)
		msg.Set("state", state)
		inst.w.Call("postMessage", msg)
		d, err := inst.wait(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s ran past its time cap", name)
		}
		switch d.Get("t").String() {
		case "done":
			out := d.Get("out")
			if out.IsNull() || out.IsUndefined() {
				return nil, nil
			}
			b := make([]byte, out.Get("length").Int())
			js.CopyBytesToGo(b, out)
			return b, nil
		case "need":
			room, typ, key := d.Get("room").String(), d.Get("type").String(), d.Get("key").String()
			ev, n := m.stateAnswer(ctx, room, typ, key)
			var j any
			if ev != nil {
				j = bytesToJS(ev)
			}
			state.Call("push", []any{room, typ, key, n, j})
		default:
			return nil, errors.New(d.Get("msg").String())
		}
	}
	return nil, fmt.Errorf("%s asked for more than %d state events", name, maxStateRounds)
}

func bytesToJS(b []byte) js.Value {
	u := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// jsTry calls f and turns a JavaScript exception into an error.
func jsTry(f func() js.Value) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = errors.New(je.Get("message").String())
				return
			}
			panic(r)
		}
	}()
	return f(), nil
}
