//go:build !js

package modules

import (
	"context"

	"github.com/tetratelabs/wazero/api"
)

// instantiateHost adds the "hearth" import module to m's runtime:
//
//	log(level i32, ptr i32, len i32)
//	config(out i32, cap i32) -> i32
//	state_event(room i32, room_len i32, type i32, type_len i32, key i32, key_len i32, out i32, cap i32) -> i32
//
// config and state_event write their JSON at out when it fits in cap bytes
// and return its length either way (the module calls again with a bigger
// buffer when the length is over cap); state_event returns -1 when the
// room has no such state, -2 when it could not be read.
func (m *module) instantiateHost(ctx context.Context) error {
	i32 := api.ValueTypeI32
	b := m.code.rt.NewHostModuleBuilder(hostModule)
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
		if n > 4096 {
			n = 4096
		}
		msg, ok := mod.Memory().Read(ptr, n)
		if !ok {
			return
		}
		m.log.Log(ctx, logLevel(level), string(msg))
	}), []api.ValueType{i32, i32, i32}, nil).Export("log")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		stack[0] = uint64(uint32(writeOut(mod, m.config, uint32(stack[0]), uint32(stack[1]))))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("config")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		stack[0] = uint64(uint32(m.stateEvent(ctx, mod, stack)))
	}), []api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}).Export("state_event")
	_, err := b.Instantiate(ctx)
	return err
}

// stateEvent answers state_event.
func (m *module) stateEvent(ctx context.Context, mod api.Module, stack []uint64) int32 {
	if m.state == nil {
		return stateNotFound
	}
	mem := mod.Memory()
	// An i32 argument is the low 32 bits of its stack slot.
	str := func(ptr, n uint64) (string, bool) {
		if uint32(n) > 65536 {
			return "", false
		}
		b, ok := mem.Read(uint32(ptr), uint32(n))
		return string(b), ok
	}
	room, ok1 := str(stack[0], stack[1])
	typ, ok2 := str(stack[2], stack[3])
	key, ok3 := str(stack[4], stack[5])
	if !ok1 || !ok2 || !ok3 {
		return stateError
	}
	ev, n := m.stateAnswer(ctx, room, typ, key)
	if ev == nil {
		return n
	}
	return writeOut(mod, ev, uint32(stack[6]), uint32(stack[7]))
}

// writeOut writes b at out when it fits in size bytes and returns its
// length.
func writeOut(mod api.Module, b []byte, out, size uint32) int32 {
	if uint32(len(b)) <= size && !mod.Memory().Write(out, b) {
		return stateError
	}
	return int32(len(b))
}
