// Package core is hearth's Matrix domain: the error type every layer
// returns, and the small interfaces the domain needs from the outside
// (storage, keys, clock). Heavy spec algorithms live in sub-packages
// (canonicaljson, pdu, roomversion, eventauth, stateres, ...).
//
// core imports nothing else of hearth's, and no net/http, database/sql or
// syscall/js. Importing it has no side effects.
package core

import (
	"errors"
	"fmt"
)

// Error is a Matrix error: an errcode, a human-readable message and the
// HTTP status it is sent with. Compare with errors.Is, which matches on
// ErrCode alone, so errors.Is(err, core.ErrForbidden) holds for any
// M_FORBIDDEN whatever its message.
type Error struct {
	ErrCode string
	Message string
	Status  int
	// Extra holds additional top-level JSON fields (retry_after_ms,
	// soft_logout, ...).
	Extra map[string]any
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.ErrCode
	}
	return e.ErrCode + ": " + e.Message
}

// Is matches another *Error with the same errcode.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.ErrCode == e.ErrCode
}

// WithMessage returns a copy of e with the message set.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// WithExtra returns a copy of e with one more top-level JSON field.
func (e *Error) WithExtra(key string, value any) *Error {
	c := *e
	c.Extra = make(map[string]any, len(e.Extra)+1)
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

// WithStatus returns a copy of e sent with another HTTP status (for the few
// errcodes the spec pairs with more than one status, e.g. M_UNRECOGNIZED).
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

func newError(code string, status int, msg string) *Error {
	return &Error{ErrCode: code, Status: status, Message: msg}
}

// The errors of the client-server and server-server APIs.
var (
	ErrForbidden           = newError("M_FORBIDDEN", 403, "Forbidden")
	ErrUnknownToken        = newError("M_UNKNOWN_TOKEN", 401, "Unknown access token")
	ErrMissingToken        = newError("M_MISSING_TOKEN", 401, "Missing access token")
	ErrUnauthorized        = newError("M_UNAUTHORIZED", 401, "Unauthorized")
	ErrBadJSON             = newError("M_BAD_JSON", 400, "Bad JSON")
	ErrNotJSON             = newError("M_NOT_JSON", 400, "Content not JSON")
	ErrNotFound            = newError("M_NOT_FOUND", 404, "Not found")
	ErrLimitExceeded       = newError("M_LIMIT_EXCEEDED", 429, "Too many requests")
	ErrUnrecognized        = newError("M_UNRECOGNIZED", 404, "Unrecognized request")
	ErrUnknown             = newError("M_UNKNOWN", 500, "Internal server error")
	ErrUserInUse           = newError("M_USER_IN_USE", 400, "User ID already taken")
	ErrInvalidUsername     = newError("M_INVALID_USERNAME", 400, "Invalid user name")
	ErrRoomInUse           = newError("M_ROOM_IN_USE", 400, "Room alias already taken")
	ErrInvalidRoomState    = newError("M_INVALID_ROOM_STATE", 400, "Invalid room state")
	ErrTooLarge            = newError("M_TOO_LARGE", 413, "Request too large")
	ErrInvalidParam        = newError("M_INVALID_PARAM", 400, "Invalid parameter")
	ErrMissingParam        = newError("M_MISSING_PARAM", 400, "Missing parameter")
	ErrUnsupportedRoomVers = newError("M_UNSUPPORTED_ROOM_VERSION", 400, "Unsupported room version")
	ErrIncompatibleRoomVer = newError("M_INCOMPATIBLE_ROOM_VERSION", 400, "Incompatible room version")
	// ErrUnableToGrantJoin: a restricted join that meets an allow condition,
	// but no member of this server may invite (make_join; the joining
	// server tries another).
	ErrUnableToGrantJoin = newError("M_UNABLE_TO_GRANT_JOIN", 400, "No user of this server can authorise the join")
	ErrUserDeactivated   = newError("M_USER_DEACTIVATED", 403, "User deactivated")
	ErrExclusive         = newError("M_EXCLUSIVE", 400, "Namespace is exclusive")
	ErrUnknownDevice     = newError("M_UNKNOWN_DEVICE", 400, "Unknown device")
	// The application service ping's errors.
	ErrURLNotSet         = newError("M_URL_NOT_SET", 400, "The application service has no URL")
	ErrBadStatus         = newError("M_BAD_STATUS", 502, "The application service returned a bad status")
	ErrConnectionFailed  = newError("M_CONNECTION_FAILED", 502, "Connection to the application service failed")
	ErrConnectionTimeout = newError("M_CONNECTION_TIMEOUT", 504, "Connection to the application service timed out")
	ErrGuestAccessForbid = newError("M_GUEST_ACCESS_FORBIDDEN", 403, "Guest access forbidden")
	ErrThreepidInUse     = newError("M_THREEPID_IN_USE", 400, "Third-party ID in use")
	ErrWeakPassword      = newError("M_WEAK_PASSWORD", 400, "Password too weak")
	ErrUnableToAuthorise = newError("M_UNABLE_TO_AUTHORISE_JOIN", 400, "Unable to authorise join")
	ErrCannotLeaveServer = newError("M_CANNOT_LEAVE_SERVER_NOTICE_ROOM", 403, "Cannot leave")
	ErrUnavailable       = newError("M_UNAVAILABLE", 503, "Service unavailable")
	ErrResourceLimit     = newError("M_RESOURCE_LIMIT_EXCEEDED", 403, "Resource limit exceeded")
	ErrBadState          = newError("M_BAD_STATE", 400, "Bad state")
	ErrUnsupported       = newError("M_UNSUPPORTED", 400, "Unsupported")
)
