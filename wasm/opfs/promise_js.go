package opfs

import (
	"errors"
	"syscall/js"
)

// jsError is an exception or a promise rejection from JavaScript.
// Name is the DOMException name, such as "NotFoundError".
type jsError struct {
	Name    string
	Message string
}

func (e *jsError) Error() string {
	return "opfs: " + e.Name + ": " + e.Message
}

// toError turns a thrown or rejected JavaScript value into an error.
func toError(v js.Value) error {
	if v.Type() == js.TypeObject {
		name, msg := v.Get("name"), v.Get("message")
		if name.Type() == js.TypeString {
			e := &jsError{Name: name.String()}
			if msg.Type() == js.TypeString {
				e.Message = msg.String()
			}
			return e
		}
	}
	return &jsError{Name: "Error", Message: js.Global().Get("String").Invoke(v).String()}
}

// errorName returns the DOMException name in err's chain, or "".
func errorName(err error) string {
	var e *jsError
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}

// call calls method on v and turns a JavaScript exception into an error
// instead of a panic.
func call(v js.Value, method string, args ...any) (r js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(js.Error)
			if !ok {
				panic(p)
			}
			err = toError(e.Value)
		}
	}()
	return v.Call(method, args...), nil
}

// await calls method on v, which returns a promise, and blocks the calling
// goroutine until the promise settles. The Go runtime keeps running the
// JavaScript event loop meanwhile, so this works on any ordinary goroutine;
// inside a js.FuncOf callback it would wait forever.
func await(v js.Value, method string, args ...any) (js.Value, error) {
	p, err := call(v, method, args...)
	if err != nil {
		return js.Undefined(), err
	}
	return awaitPromise(p)
}

// awaitPromise blocks the calling goroutine until promise p settles, as
// await does.
func awaitPromise(p js.Value) (js.Value, error) {
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
		ch <- result{err: toError(arg(args))}
		return nil
	})
	defer onError.Release()
	if _, err := call(p, "then", onValue, onError); err != nil {
		return js.Undefined(), err
	}
	r := <-ch
	return r.v, r.err
}
