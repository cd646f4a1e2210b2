package idb

import (
	"syscall/js"

	"hearth.dev/hearth/wasm/jsvfs"
)

// awaitRequest waits for an IDBRequest to succeed or fail and returns its
// result.
func awaitRequest(req js.Value) (js.Value, error) {
	ch := make(chan error, 2)
	onSuccess := js.FuncOf(func(js.Value, []js.Value) any {
		ch <- nil
		return nil
	})
	defer onSuccess.Release()
	onError := js.FuncOf(func(js.Value, []js.Value) any {
		ch <- jsvfs.ToError(req.Get("error"))
		return nil
	})
	defer onError.Release()
	req.Set("onsuccess", onSuccess)
	req.Set("onerror", onError)
	if err := <-ch; err != nil {
		return js.Undefined(), err
	}
	return req.Get("result"), nil
}

// awaitTransaction waits for an IDBTransaction to commit or abort.
func awaitTransaction(tx js.Value) error {
	ch := make(chan error, 3)
	onComplete := js.FuncOf(func(js.Value, []js.Value) any {
		ch <- nil
		return nil
	})
	defer onComplete.Release()
	onFail := js.FuncOf(func(js.Value, []js.Value) any {
		err := tx.Get("error")
		if err.Type() != js.TypeObject {
			ch <- &jsvfs.Error{Name: "AbortError", Message: "the transaction was aborted"}
		} else {
			ch <- jsvfs.ToError(err)
		}
		return nil
	})
	defer onFail.Release()
	tx.Set("oncomplete", onComplete)
	tx.Set("onerror", onFail)
	tx.Set("onabort", onFail)
	return <-ch
}
