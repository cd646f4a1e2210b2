package idb

import (
	"hearth.dev/hearth/wasm/jsvfs"

	"fmt"
	"syscall/js"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// acquireWebLock takes the exclusive Web Lock name if no worker or tab of
// the origin holds it, without waiting. It returns ok=false if the lock is
// held elsewhere; otherwise release gives it up. Where navigator.locks is
// missing, every call succeeds and nothing guards against a second holder.
func acquireWebLock(name string) (release func(), ok bool, err error) {
	nav := js.Global().Get("navigator")
	if nav.Type() != js.TypeObject || nav.Get("locks").Type() != js.TypeObject {
		return func() {}, true, nil
	}
	type result struct {
		resolve js.Value
		ok      bool
	}
	ch := make(chan result, 1)
	// The lock is held until the promise the callback returns settles.
	granted := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 || args[0].IsNull() {
			ch <- result{}
			return nil
		}
		var resolve js.Value
		executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
			resolve = args[0]
			return nil
		})
		defer executor.Release()
		p := js.Global().Get("Promise").New(executor)
		ch <- result{resolve: resolve, ok: true}
		return p
	})
	defer granted.Release()
	p, err := jsvfs.Call(nav.Get("locks"), "request", name, map[string]any{"ifAvailable": true}, granted)
	if err != nil {
		return nil, false, vfs.SystemError(fmt.Errorf("idb: lock %s: %w", name, err), sqlite3.CANTOPEN)
	}
	r := <-ch
	if !r.ok {
		jsvfs.AwaitPromise(p)
		return nil, false, nil
	}
	// The request's own promise settles once the lock is given up; waiting
	// for it makes the lock free for the next request when release returns.
	return func() {
		r.resolve.Invoke()
		jsvfs.AwaitPromise(p)
	}, true, nil
}
