package modules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"hearth.dev/hearth/core"
)

// verdict is a check's answer (docs/modules.md): no answer, or
// {"allow": true}, allows; anything else refuses, with the module's
// errcode (M_FORBIDDEN if it gives none) and message.
type verdict struct {
	Allow      bool   `json:"allow"`
	ErrCode    string `json:"errcode"`
	Error      string `json:"error"`
	AutoAccept bool   `json:"auto_accept"`
	// UserID is check_auth's answer.
	UserID string `json:"user_id"`
}

// check calls callback on every module that exports it, in order, and
// returns the first refusal. A module that fails refuses or allows as its
// on_error says.
func (h *Host) check(ctx context.Context, callback string, input any) (verdict, error) {
	var all verdict
	all.Allow = true
	var in []byte
	for _, m := range h.mods {
		if !m.exports[callback] {
			continue
		}
		if in == nil {
			var err error
			if in, err = inputJSON(input); err != nil {
				return all, err
			}
		}
		v, err := m.verdict(ctx, callback, in)
		if err != nil {
			if m.spec.OnError == OnErrorAllow {
				continue
			}
			return all, core.ErrForbidden.WithMessage("Refused: the server's module %s failed", m.name)
		}
		if !v.Allow {
			return all, refusal(m, v)
		}
		all.AutoAccept = all.AutoAccept || v.AutoAccept
	}
	return all, nil
}

func inputJSON(input any) ([]byte, error) {
	if b, ok := input.([]byte); ok {
		return b, nil
	}
	return json.Marshal(input)
}

// verdict runs one check on m and reads its answer.
func (m *module) verdict(ctx context.Context, callback string, in []byte) (verdict, error) {
	out, err := m.call(ctx, callback, in)
	if err != nil {
		return verdict{}, err
	}
	if len(out) == 0 {
		return verdict{Allow: true}, nil
	}
	var v verdict
	if err := json.Unmarshal(out, &v); err != nil {
		m.stats.record(callback, 0, true)
		m.log.Warn("module answer is not a verdict", "callback", callback, "err", err)
		return verdict{}, err
	}
	return v, nil
}

// refusal is the Matrix error of a module's refusal: status 403, the
// module's errcode when it is one (upper-case letters, digits, _ and .),
// else M_FORBIDDEN.
func refusal(m *module, v verdict) error {
	code := v.ErrCode
	if !validErrCode(code) {
		code = core.ErrForbidden.ErrCode
	}
	msg := v.Error
	if msg == "" {
		msg = "Refused by the server's module " + m.name
	}
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return &core.Error{ErrCode: code, Message: msg, Status: 403}
}

func validErrCode(code string) bool {
	if len(code) < 3 || len(code) > 64 || !strings.Contains(code, "_") {
		return false
	}
	for _, c := range code {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// WithEventID returns event with "event_id" set, when it is not already.
func WithEventID(eventID string, event json.RawMessage) []byte {
	event = bytes.TrimSpace(event)
	if eventID == "" || len(event) < 2 || event[0] != '{' || bytes.Contains(event, []byte(`"event_id"`)) {
		return event
	}
	out := make([]byte, 0, len(event)+len(eventID)+16)
	out = append(out, `{"event_id":`...)
	out = strconv.AppendQuote(out, eventID)
	rest := bytes.TrimSpace(event[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// CheckEventForSpam implements core.ModuleCallbacks.
func (h *Host) CheckEventForSpam(ctx context.Context, eventID string, event json.RawMessage) error {
	if !h.exports(cbCheckEventForSpam) {
		return nil
	}
	_, err := h.check(ctx, cbCheckEventForSpam, WithEventID(eventID, event))
	return err
}

// UserMayInvite implements core.ModuleCallbacks.
func (h *Host) UserMayInvite(ctx context.Context, inviter, invitee, roomID string) (core.InviteVerdict, error) {
	if !h.exports(cbUserMayInvite) {
		return core.InviteVerdict{}, nil
	}
	v, err := h.check(ctx, cbUserMayInvite, map[string]string{"inviter": inviter, "invitee": invitee, "room_id": roomID})
	return core.InviteVerdict{AutoAccept: err == nil && v.AutoAccept}, err
}

// UserMayJoinRoom implements core.ModuleCallbacks.
func (h *Host) UserMayJoinRoom(ctx context.Context, userID, roomID string, isInvited bool) error {
	if !h.exports(cbUserMayJoinRoom) {
		return nil
	}
	_, err := h.check(ctx, cbUserMayJoinRoom, map[string]any{"user_id": userID, "room_id": roomID, "is_invited": isInvited})
	return err
}

// UserMayCreateRoom implements core.ModuleCallbacks.
func (h *Host) UserMayCreateRoom(ctx context.Context, userID string) error {
	if !h.exports(cbUserMayCreateRoom) {
		return nil
	}
	_, err := h.check(ctx, cbUserMayCreateRoom, map[string]string{"user_id": userID})
	return err
}

// CheckRegistrationForSpam implements core.ModuleCallbacks.
func (h *Host) CheckRegistrationForSpam(ctx context.Context, reg core.RegistrationCheck) error {
	if !h.exports(cbCheckRegistrationForSpam) {
		return nil
	}
	_, err := h.check(ctx, cbCheckRegistrationForSpam, reg)
	return err
}

// LoginTypes implements core.ModuleCallbacks.
func (h *Host) LoginTypes() []string {
	if h == nil {
		return nil
	}
	var out []string
	for _, m := range h.mods {
		out = append(out, m.loginTypes...)
	}
	return out
}

// CheckAuth implements core.ModuleCallbacks: the module of loginType
// answers {"user_id": ...} to log the user in, or a refusal. A module that
// fails refuses, whatever its on_error.
func (h *Host) CheckAuth(ctx context.Context, loginType string, login json.RawMessage) (string, error) {
	var m *module
	if h != nil {
		m = h.login[loginType]
	}
	if m == nil {
		return "", core.ErrUnknown.WithStatus(400).WithMessage("Bad login type.")
	}
	v, err := m.verdict(ctx, cbCheckAuth, login)
	if err != nil {
		return "", core.ErrForbidden.WithMessage("Login failed: the server's module %s failed", m.name)
	}
	if v.UserID == "" {
		if v.Allow {
			return "", core.ErrForbidden.WithMessage("Login refused: the module %s named no user", m.name)
		}
		return "", refusal(m, v)
	}
	return v.UserID, nil
}

// EventsPersisted implements core.PersistHook: on_new_event gets every
// live event stored (not backfilled, not an outlier, not rejected nor soft
// failed), after the commit. Its answer and failures change nothing.
func (h *Host) EventsPersisted(ctx context.Context, events []core.NewEvent, opts core.PersistOptions) {
	if opts.Backfilled || !h.exports(cbOnNewEvent) {
		return
	}
	for i := range events {
		ev := &events[i]
		if ev.Outlier || ev.Rejected != "" || ev.SoftFailed {
			continue
		}
		in := WithEventID(ev.EventID, ev.JSON)
		for _, m := range h.mods {
			if m.exports[cbOnNewEvent] {
				m.call(ctx, cbOnNewEvent, in) // failures are logged and counted
			}
		}
	}
}

// exports reports whether any module exports callback.
func (h *Host) exports(callback string) bool {
	if h == nil {
		return false
	}
	for _, m := range h.mods {
		if m.exports[callback] {
			return true
		}
	}
	return false
}

// String names the loaded modules.
func (h *Host) String() string {
	names := make([]string, 0, h.Len())
	if h != nil {
		for _, m := range h.mods {
			names = append(names, m.name)
		}
	}
	return fmt.Sprintf("modules%v", names)
}
