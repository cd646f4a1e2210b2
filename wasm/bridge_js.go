package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"hearth.dev/hearth"
	"hearth.dev/hearth/core"
	"hearth.dev/hearth/wasm/opfs"
)

// Error codes the bridge reports in err.code; web/ui/hearth.js turns them
// into its errors.
const (
	codeNeedsOwner  = "NEEDS_OWNER" // an empty storage and no owner given
	codeBadOption   = "BAD_OPTION"  // an option has a bad value
	codeUnsupported = "UNSUPPORTED" // the storage asked for is missing here
	codeBusy        = "BUSY"        // another worker holds the database
	codeTooNew      = "TOO_NEW"     // the database needs a newer hearth
	codeForeign     = "NOT_HEARTH"  // not a hearth database
	codeNotRunning  = "NOT_RUNNING" // the homeserver is not running
	codeRunning     = "RUNNING"     // the homeserver must be stopped first
	codeAborted     = "ABORTED"     // the request was aborted
	codeBadRequest  = "BAD_REQUEST" // a request could not be built
	codeInternal    = "INTERNAL"    // anything else
)

// codeError is an error with a code for JavaScript.
type codeError struct {
	code string
	msg  string
}

func newCodeError(code, format string, args ...any) *codeError {
	return &codeError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (e *codeError) Error() string { return e.msg }

// jsError turns err into the {code, message} object the callbacks get.
func jsError(err error) js.Value {
	code := codeInternal
	var ce *codeError
	var me *core.Error
	switch {
	case errors.As(err, &ce):
		code = ce.code
	case errors.As(err, &me):
		code = codeBadOption
	case errors.Is(err, context.Canceled):
		code = codeAborted
	}
	return js.ValueOf(map[string]any{"code": code, "message": err.Error()})
}

// installBridge sets global.hearthWasm to the methods described in the
// package documentation.
func installBridge(global js.Value, h *host) {
	fns := map[string]func(args []js.Value){
		"start": func(args []js.Value) {
			// The SQLite warm-up stops for it (warm_js.go).
			noteStartAsked()
			o := startOptionsOf(arg(args, 0))
			cb := arg(args, 1)
			go func() {
				st, err := h.start(context.Background(), o)
				reply(cb, err, func() any { return statusValue(st) })
			}()
		},
		"fetch": func(args []js.Value) {
			called := time.Now()
			id := stringOf(arg(args, 0))
			method, url := stringOf(arg(args, 1)), stringOf(arg(args, 2))
			headers := headersOf(arg(args, 3))
			body := bytesOf(arg(args, 4))
			cb := arg(args, 5)
			go func() {
				began := time.Now()
				r, err := newRequest(method, url, headers, body)
				if err != nil {
					reply(cb, newCodeError(codeBadRequest, "%v", err), nil)
					return
				}
				w, err := h.serve(id, r)
				served := time.Now()
				reply(cb, err, func() any { return responseValue(w) })
				fetchTimes.add(began.Sub(called), served.Sub(began), time.Since(served))
			}()
		},
		"abort": func(args []js.Value) {
			h.abort(stringOf(arg(args, 0)))
		},
		"status": func(args []js.Value) {
			cb := arg(args, 0)
			go func() {
				st, err := h.status(context.Background())
				reply(cb, err, func() any { return statusValue(st) })
			}()
		},
		"exportDatabase": func(args []js.Value) {
			cb := arg(args, 0)
			go func() {
				b, err := h.exportDatabase(context.Background())
				reply(cb, err, func() any { return uint8Array(b) })
			}()
		},
		"importDatabase": func(args []js.Value) {
			data := bytesOf(arg(args, 0))
			want := stringOf(arg(args, 1))
			cb := arg(args, 2)
			go func() {
				err := h.importDatabase(context.Background(), data, want)
				reply(cb, err, nil)
			}()
		},
		"stop": func(args []js.Value) {
			cb := arg(args, 0)
			go func() {
				reply(cb, h.stop(), nil)
			}()
		},
	}
	obj := js.Global().Get("Object").New()
	for name, fn := range fns {
		obj.Set(name, js.FuncOf(func(this js.Value, args []js.Value) any {
			fn(args)
			return nil
		}))
	}
	global.Set("hearthWasm", obj)
}

// reply calls cb(err, value()) or cb(null, value()); value may be nil.
func reply(cb js.Value, err error, value func() any) {
	if cb.Type() != js.TypeFunction {
		return
	}
	if err != nil {
		cb.Invoke(jsError(err), js.Undefined())
		return
	}
	var v any = js.Undefined()
	if value != nil {
		v = value()
	}
	cb.Invoke(js.Null(), v)
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

func stringOf(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// The constructors and functions every request uses, looked up once:
// syscall/js decodes a property name from Go's memory on every Get.
var (
	jsUint8Array  = js.Global().Get("Uint8Array")
	jsArrayBuffer = js.Global().Get("ArrayBuffer")
	jsIsArray     = js.Global().Get("Array").Get("isArray")
)

// bytesOf copies a Uint8Array (or an ArrayBuffer) into Go; anything else
// is no bytes.
func bytesOf(v js.Value) []byte {
	if v.Type() != js.TypeObject {
		return nil
	}
	if v.InstanceOf(jsArrayBuffer) {
		v = jsUint8Array.New(v)
	}
	if !v.InstanceOf(jsUint8Array) {
		return nil
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b
}

func uint8Array(b []byte) js.Value {
	a := jsUint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// headersOf reads an array of [name, value] pairs.
func headersOf(v js.Value) [][2]string {
	if v.Type() != js.TypeObject || !jsIsArray.Invoke(v).Bool() {
		return nil
	}
	n := v.Length()
	out := make([][2]string, 0, n)
	for i := range n {
		kv := v.Index(i)
		if kv.Type() != js.TypeObject || kv.Length() != 2 {
			continue
		}
		out = append(out, [2]string{stringOf(kv.Index(0)), stringOf(kv.Index(1))})
	}
	return out
}

// startOptionsOf reads start's options object: {serverName, owner: {name,
// password}, storage, logLevel, relay: {url, token}, modules,
// schemaImage} (the worker script adds schemaImage on a first visit).
func startOptionsOf(v js.Value) startOptions {
	var o startOptions
	if v.Type() != js.TypeObject {
		return o
	}
	o.ServerName = stringOf(v.Get("serverName"))
	o.Storage = stringOf(v.Get("storage"))
	o.LogLevel = stringOf(v.Get("logLevel"))
	if r := v.Get("relay"); r.Type() == js.TypeObject {
		o.RelayURL, o.RelayToken = stringOf(r.Get("url")), stringOf(r.Get("token"))
	}
	if owner := v.Get("owner"); owner.Type() == js.TypeObject {
		o.HasOwner = true
		o.OwnerName = stringOf(owner.Get("name"))
		o.OwnerPassword = stringOf(owner.Get("password"))
		o.OwnerPasswordHash = owner.Get("passwordHash")
	}
	o.Modules = modulesOf(v.Get("modules"))
	o.SchemaImage = bytesOf(v.Get("schemaImage"))
	return o
}

// modulesOf reads start's modules: [{name, wasm: Uint8Array, config: JSON
// text, onError, memoryPages, timeout}] (web/ui/hearth.js fetched and
// converted them).
func modulesOf(v js.Value) []hearth.ModuleConfig {
	if v.Type() != js.TypeObject {
		return nil
	}
	var out []hearth.ModuleConfig
	for i := range v.Length() {
		m := v.Index(i)
		w := m.Get("wasm")
		if w.Type() != js.TypeObject {
			continue
		}
		b := make([]byte, w.Get("byteLength").Int())
		js.CopyBytesToGo(b, w)
		var cfg any
		json.Unmarshal([]byte(stringOf(m.Get("config"))), &cfg)
		mc := hearth.ModuleConfig{Name: stringOf(m.Get("name")), Wasm: b, Config: cfg,
			OnError: stringOf(m.Get("onError")), Timeout: stringOf(m.Get("timeout"))}
		if p := m.Get("memoryPages"); p.Type() == js.TypeNumber {
			mc.MemoryPages = uint32(p.Int())
		}
		out = append(out, mc)
	}
	return out
}

func statusValue(st status) any {
	m := map[string]any{
		"storage":       st.Storage,
		"databaseBytes": float64(st.DatabaseBytes),
		"version":       st.Version,
		"serverName":    st.ServerName,
		"startedAt":     float64(st.StartedAt.UnixMilli()),
		"startupMs":     float64(st.Startup.Microseconds()) / 1000,
		"startupPhases": map[string]any{
			"busyWaitMs":       float64(st.Phases.Busy.Microseconds()) / 1000,
			"openMs":           float64(st.Phases.Open.Microseconds()) / 1000,
			"ownerMs":          float64(st.Phases.Owner.Microseconds()) / 1000,
			"warmMs":           float64(st.Phases.Warm.Microseconds()) / 1000,
			"warmSteps":        st.Phases.WarmSteps,
			"askedAfterMs":     float64(st.Phases.AskedAfter.Microseconds()) / 1000,
			"schemaImageBytes": st.Phases.SchemaImageBytes,
			"ownerHashedAside": st.Phases.OwnerHashedAside,
		},
		"goHeapBytes": float64(st.GoHeapBytes),
		"goSysBytes":  float64(st.GoSysBytes),
		"relay":       map[string]any{"state": st.Relay.State, "queued": st.Relay.Queued},
		"opfs":        opfsStatsValue(opfs.ReadStats()),
		"fetches":     fetchTimes.value(),
	}
	if st.OwnerCreated != "" {
		m["ownerCreated"] = st.OwnerCreated
	}
	return m
}

// fetchTimes sums where the time of fetch calls went in Go since the
// worker started: from the call to its goroutine running (the Go
// scheduler's hand-off), serving it, and building the answer and handing
// it to JavaScript.
var fetchTimes fetchTimings

type fetchTimings struct {
	mu                     sync.Mutex
	n                      int
	start, serve, response time.Duration
}

func (t *fetchTimings) add(start, serve, response time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	t.start += start
	t.serve += serve
	t.response += response
}

// value is {count, startMs, serveMs, responseMs}.
func (t *fetchTimings) value() any {
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return map[string]any{"count": t.n, "startMs": ms(t.start), "serveMs": ms(t.serve), "responseMs": ms(t.response)}
}

// opfsStatsValue is the OPFS VFS's call counts since the worker started:
// {reads, writes, writeBytes, flushes, sizes, truncates, awaits, roots,
// lookups}.
func opfsStatsValue(s opfs.Stats) any {
	return map[string]any{
		"reads": float64(s.Reads), "writes": float64(s.Writes), "writeBytes": float64(s.WriteBytes),
		"flushes": float64(s.Flushes), "sizes": float64(s.Sizes), "truncates": float64(s.Truncates),
		"awaits": float64(s.Awaits), "roots": float64(s.Roots), "lookups": float64(s.Lookups),
	}
}

// responseValue is {status, headers: [[name, value]...], body: Uint8Array}.
func responseValue(w *response) any {
	headers := make([]any, 0, len(w.header))
	for name, values := range w.header {
		for _, v := range values {
			headers = append(headers, []any{name, v})
		}
	}
	return map[string]any{
		"status":  w.Status(),
		"headers": headers,
		"body":    uint8Array(w.body.Bytes()),
	}
}
