// Package jsvfs holds what hearth's browser SQLite VFSes (wasm/opfs and
// wasm/idb) share: waiting on JavaScript promises and calls from Go, the
// errors they throw, and the in-process lock table that stands in for file
// locks. It is made only of *_js.go files; importing it has no side effects.
package jsvfs

import (
	"errors"
	"syscall/js"
)

// Error is an exception or a promise rejection from JavaScript.
// Name is the DOMException name, such as "NotFoundError".
type Error struct {
	Name    string
	Message string
}

func (e *Error) Error() string {
	return e.Name + ": " + e.Message
}

// ToError turns a thrown or rejected JavaScript value into an error.
func ToError(v js.Value) error {
	if v.Type() == js.TypeObject {
		name, msg := v.Get("name"), v.Get("message")
		if name.Type() == js.TypeString {
			e := &Error{Name: name.String()}
			if msg.Type() == js.TypeString {
				e.Message = msg.String()
			}
			return e
		}
	}
	return &Error{Name: "Error", Message: js.Global().Get("String").Invoke(v).String()}
}

// ErrorName returns the DOMException name in err's chain, or "".
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}

// call calls method on v and turns a JavaScript exception into an error
// instead of a panic.
func Call(v js.Value, method string, args ...any) (r js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(js.Error)
			if !ok {
				panic(p)
			}
			err = ToError(e.Value)
		}
	}()
	return v.Call(method, args...), nil
}

// Invoke calls the function fn, turning a JavaScript exception into an
// error as Call does.
func Invoke(fn js.Value, args ...any) (r js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(js.Error)
			if !ok {
				panic(p)
			}
			err = ToError(e.Value)
		}
	}()
	return fn.Invoke(args...), nil
}

// await calls method on v, which returns a promise, and blocks the calling
// goroutine until the promise settles. The Go runtime keeps running the
// JavaScript event loop meanwhile, so this works on any ordinary goroutine;
// inside a js.FuncOf callback it would wait forever.
func Await(v js.Value, method string, args ...any) (js.Value, error) {
	p, err := Call(v, method, args...)
	if err != nil {
		return js.Undefined(), err
	}
	return AwaitPromise(p)
}

// AwaitPromise blocks the calling goroutine until promise p settles, as
// await does.
func AwaitPromise(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	arg := func(args []js.Value) js.Value {
		if len(args) == 0 {
			return js.Undefined()
		}
		return args[0]
	}
	onValue := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: arg(args)}
		return nil
	})
	defer onValue.Release()
	onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: ToError(arg(args))}
		return nil
	})
	defer onError.Release()
	if _, err := Call(p, "then", onValue, onError); err != nil {
		return js.Undefined(), err
	}
	r := <-ch
	return r.v, r.err
}
