//go:build wasip1

// Package guest is the module side of hearth's module ABI (docs/modules.md),
// for modules written in Go and built with GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared. Importing it exports hearth_abi_version and
// hearth_alloc from the module and gives the host imports (Log, Config,
// StateEvent) as Go functions; the module exports its callbacks itself
// with //go:wasmexport, reading its input with Input and answering with
// Return, Allow or Deny.
package guest

import (
	"encoding/json"
	"unsafe"
)

// ABIVersion is the version of the ABI this package speaks.
const ABIVersion = 1

//go:wasmexport hearth_abi_version
func abiVersion() int32 { return ABIVersion }

// in is the buffer the host writes a callback's input into; out holds the
// last answer until the host has read it.
var in, out []byte

//go:wasmexport hearth_alloc
func alloc(n int32) uint32 {
	if int(n) > cap(in) {
		in = make([]byte, n)
	}
	in = in[:n]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}

// Input is the input of the callback called with (ptr, n): the JSON the
// host wrote. It is valid until the callback returns.
func Input(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ptr))), n)
}

// Return answers a callback with v as JSON.
func Return(v any) uint64 {
	b, err := json.Marshal(v)
	if err != nil {
		Log(LevelError, "answer: "+err.Error())
		return 0
	}
	out = b
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}

// Verdict is a check's answer.
type Verdict struct {
	Allow   bool   `json:"allow"`
	ErrCode string `json:"errcode,omitempty"`
	Error   string `json:"error,omitempty"`
	// AutoAccept (user_may_invite only) asks the host to join the
	// invitee once the invite is stored.
	AutoAccept bool `json:"auto_accept,omitempty"`
}

// Allow answers a check with "allowed".
func Allow() uint64 { return 0 }

// Deny answers a check with a refusal carrying errcode and message.
func Deny(errcode, message string) uint64 {
	return Return(Verdict{ErrCode: errcode, Error: message})
}

// Log levels.
const (
	LevelDebug int32 = iota
	LevelInfo
	LevelWarn
	LevelError
)

//go:wasmimport hearth log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport hearth config
func hostConfig(ptr unsafe.Pointer, size int32) int32

//go:wasmimport hearth state_event
func hostStateEvent(room unsafe.Pointer, roomLen int32, typ unsafe.Pointer, typLen int32, key unsafe.Pointer, keyLen int32, out unsafe.Pointer, size int32) int32

// Log writes msg to the server's log under the module's name.
func Log(level int32, msg string) {
	hostLog(level, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

// Config is the module's config (JSON; "null" when it has none).
func Config() []byte {
	b := make([]byte, 4096)
	for {
		n := hostConfig(unsafe.Pointer(unsafe.SliceData(b)), int32(len(b)))
		if int(n) <= len(b) {
			return b[:n]
		}
		b = make([]byte, n)
	}
}

// StateEvent returns the current state event (type, stateKey) of roomID as
// JSON, or nil when the room has none (or the server does not know it).
func StateEvent(roomID, typ, stateKey string) []byte {
	b := make([]byte, 65536)
	for {
		n := hostStateEvent(ptrOf(roomID), int32(len(roomID)), ptrOf(typ), int32(len(typ)),
			ptrOf(stateKey), int32(len(stateKey)), unsafe.Pointer(unsafe.SliceData(b)), int32(len(b)))
		if n < 0 {
			return nil
		}
		if int(n) <= len(b) {
			return b[:n]
		}
		b = make([]byte, n)
	}
}

func ptrOf(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}
