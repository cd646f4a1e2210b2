package core

import (
	"context"
	"encoding/json"
)

// ModuleCallbacks are the server's extension points, the callbacks of
// Synapse's module API: package modules runs them in WebAssembly modules.
// Each check returns nil to allow, or a *Error (M_FORBIDDEN or the
// module's errcode, status 403) to refuse. A module that fails follows
// its own on_error policy inside the implementation: callers only see a
// verdict.
type ModuleCallbacks interface {
	// CheckEventForSpam is asked about an event about to be accepted: a
	// local event after it is built and before it is stored, a remote one
	// before it is stored (a refused remote event is soft-failed). event
	// is the event in the federation format; eventID its ID, which room
	// versions 3 and later leave out of the JSON.
	CheckEventForSpam(ctx context.Context, eventID string, event json.RawMessage) error
	// UserMayInvite is asked before inviter invites invitee to roomID
	// (local invites, and invites arriving from other servers). A verdict
	// with AutoAccept asks the server to join invitee once the invite is
	// stored.
	UserMayInvite(ctx context.Context, inviter, invitee, roomID string) (InviteVerdict, error)
	// UserMayJoinRoom is asked before a local user joins roomID.
	UserMayJoinRoom(ctx context.Context, userID, roomID string, isInvited bool) error
	// UserMayCreateRoom is asked before a local user creates a room.
	UserMayCreateRoom(ctx context.Context, userID string) error
	// CheckRegistrationForSpam is asked before an account is created.
	CheckRegistrationForSpam(ctx context.Context, reg RegistrationCheck) error
	// LoginTypes are the extra login types the modules accept at /login.
	LoginTypes() []string
	// CheckAuth checks a /login request of one of LoginTypes: it returns
	// the user ID logged in, or a *Error (M_FORBIDDEN when refused).
	CheckAuth(ctx context.Context, loginType string, login json.RawMessage) (string, error)
}

// InviteVerdict is an allowed invite's extra instruction.
type InviteVerdict struct {
	// AutoAccept joins the invitee to the room once the invite is stored.
	AutoAccept bool
}

// RegistrationCheck describes an account about to be registered.
type RegistrationCheck struct {
	Username  string `json:"username"`
	DeviceID  string `json:"device_id,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// NoModules is the ModuleCallbacks of a server without modules: it allows
// everything and accepts no extra login type.
type NoModules struct{}

var _ ModuleCallbacks = NoModules{}

func (NoModules) CheckEventForSpam(context.Context, string, json.RawMessage) error { return nil }
func (NoModules) UserMayInvite(context.Context, string, string, string) (InviteVerdict, error) {
	return InviteVerdict{}, nil
}
func (NoModules) UserMayJoinRoom(context.Context, string, string, bool) error       { return nil }
func (NoModules) UserMayCreateRoom(context.Context, string) error                   { return nil }
func (NoModules) CheckRegistrationForSpam(context.Context, RegistrationCheck) error { return nil }
func (NoModules) LoginTypes() []string                                              { return nil }
func (NoModules) CheckAuth(context.Context, string, json.RawMessage) (string, error) {
	return "", ErrForbidden.WithMessage("Bad login type.")
}

// Modules is everything the server takes from its modules (package
// modules' Host): the callbacks, on_new_event after each commit (a
// PersistHook), and the list the admin API shows.
type Modules interface {
	ModuleCallbacks
	PersistHook
	// ModuleInfo lists the loaded modules, in configuration order.
	ModuleInfo() []ModuleInfo
}

// ModuleInfo is one loaded module with its counts.
type ModuleInfo struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	OnError string `json:"on_error"`
	// Callbacks are the callbacks the module exports.
	Callbacks []string `json:"callbacks"`
	// MemoryPages and TimeoutMS are the module's caps.
	MemoryPages uint32 `json:"memory_pages"`
	TimeoutMS   int64  `json:"timeout_ms"`
	Calls       uint64 `json:"calls"`
	Failures    uint64 `json:"failures"`
	// CallsBy and FailuresBy split them by callback.
	CallsBy    map[string]uint64 `json:"calls_by_callback"`
	FailuresBy map[string]uint64 `json:"failures_by_callback"`
	// P50Micros and P99Micros are the median and the 99th percentile of
	// the recent calls' time, in microseconds (0 before any call).
	P50Micros float64 `json:"p50_call_us"`
	P99Micros float64 `json:"p99_call_us"`
}

var _ Modules = NoModules{}

func (NoModules) EventsPersisted(context.Context, []NewEvent, PersistOptions) {}
func (NoModules) ModuleInfo() []ModuleInfo                                    { return nil }
