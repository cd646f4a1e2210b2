package relay

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Version is the highest protocol version this package speaks.
const Version = 1

// Subprotocol is the WebSocket subprotocol of version 1.
const Subprotocol = "hearth-relay.v1"

// ConnectPath is where a relay accepts node connections.
const ConnectPath = "/_hearth/relay/v1/connect"

const (
	// MaxFrameSize bounds one encoded frame (one WebSocket message).
	MaxFrameSize = 256 << 10
	// ChunkSize bounds the body bytes one frame carries; longer bodies
	// continue in chunk frames.
	ChunkSize = 64 << 10
	// maxHeaderFields bounds the header values of one frame.
	maxHeaderFields = 128
)

// Type is a frame's type.
type Type uint8

// The frame types (see the package doc).
const (
	TypeChallenge Type = 1
	TypeHello     Type = 2
	TypeAck       Type = 3
	TypeError     Type = 4
	TypeRequest   Type = 10
	TypeResponse  Type = 11
	TypeChunk     Type = 12
	TypeCancel    Type = 13
	TypePing      Type = 14
	TypePong      Type = 15
)

var typeNames = map[Type]string{
	TypeChallenge: "challenge", TypeHello: "hello", TypeAck: "ack", TypeError: "error",
	TypeRequest: "request", TypeResponse: "response", TypeChunk: "chunk", TypeCancel: "cancel",
	TypePing: "ping", TypePong: "pong",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Frame is one message on the socket. Which fields a type uses is in the
// package doc; the others stay zero.
type Frame struct {
	Type    Type                `cbor:"1,keyasint"`
	ID      uint64              `cbor:"2,keyasint,omitempty"`
	Method  string              `cbor:"3,keyasint,omitempty"`
	Target  string              `cbor:"4,keyasint,omitempty"`
	Host    string              `cbor:"5,keyasint,omitempty"`
	Header  map[string][]string `cbor:"6,keyasint,omitempty"`
	Status  int                 `cbor:"7,keyasint,omitempty"`
	Body    []byte              `cbor:"8,keyasint,omitempty"`
	More    bool                `cbor:"9,keyasint,omitempty"`
	Version int                 `cbor:"10,keyasint,omitempty"`
	Nonce   []byte              `cbor:"11,keyasint,omitempty"`
	Name    string              `cbor:"12,keyasint,omitempty"`
	KeyID   string              `cbor:"13,keyasint,omitempty"`
	Key     []byte              `cbor:"14,keyasint,omitempty"`
	Token   string              `cbor:"15,keyasint,omitempty"`
	Sig     []byte              `cbor:"16,keyasint,omitempty"`
	Reason  string              `cbor:"17,keyasint,omitempty"`
	Queued  int                 `cbor:"18,keyasint,omitempty"`
}

// ErrBadFrame is wrapped by every decoding and validation failure.
var ErrBadFrame = errors.New("relay: bad frame")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  4,
		MaxArrayElements: maxHeaderFields,
		MaxMapPairs:      maxHeaderFields,
		IntDec:           cbor.IntDecConvertNone,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode checks f and returns its CBOR encoding.
func Encode(f *Frame) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	b, err := encMode.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("relay: encoding a %s frame: %w", f.Type, err)
	}
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %s frame of %d bytes is over %d", ErrBadFrame, f.Type, len(b), MaxFrameSize)
	}
	return b, nil
}

// Decode parses and checks one frame. Every error wraps ErrBadFrame.
func Decode(b []byte) (*Frame, error) {
	if len(b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes is over %d", ErrBadFrame, len(b), MaxFrameSize)
	}
	var f Frame
	if err := decMode.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks the fields a frame's type needs and the limits.
func (f *Frame) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadFrame, f.Type, fmt.Sprintf(format, args...))
	}
	if _, ok := typeNames[f.Type]; !ok {
		return bad("unknown frame type")
	}
	if len(f.Body) > ChunkSize {
		return bad("body part of %d bytes is over %d", len(f.Body), ChunkSize)
	}
	if f.Status < 0 || f.Queued < 0 || f.Version < 0 {
		return bad("negative number")
	}
	n := 0
	for k, vs := range f.Header {
		if !validToken(k) {
			return bad("header name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return bad("header %q has a control character", k)
			}
		}
		n += len(vs)
	}
	if n > maxHeaderFields {
		return bad("%d header values is over %d", n, maxHeaderFields)
	}
	switch f.Type {
	case TypeChallenge:
		if f.Version < 1 || len(f.Nonce) < 16 {
			return bad("needs a version and a nonce of at least 16 bytes")
		}
	case TypeHello:
		if f.Version < 1 || f.Name == "" || f.KeyID == "" || len(f.Key) != 32 || len(f.Sig) != 64 {
			return bad("needs version, name, key_id, a 32-byte key and a 64-byte sig")
		}
	case TypeRequest:
		if f.ID == 0 || !validToken(f.Method) || !strings.HasPrefix(f.Target, "/") ||
			strings.ContainsAny(f.Target, " \r\n\x00") || strings.ContainsAny(f.Host, "/ \r\n\x00@") {
			return bad("needs an id, a method token and a target starting with /")
		}
	case TypeResponse:
		if f.ID == 0 || f.Status < 100 || f.Status > 599 {
			return bad("needs an id and a status 100-599")
		}
	case TypeChunk, TypeCancel:
		if f.ID == 0 {
			return bad("needs an id")
		}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (method or field name).
func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// challengeText is what a node signs to prove its key: the relay's nonce
// bound to the name and key it claims.
func challengeText(name, keyID string, nonce []byte) []byte {
	b := make([]byte, 0, 32+len(name)+len(keyID)+len(nonce))
	b = append(b, "hearth-relay-v1\x00"...)
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, keyID...)
	b = append(b, 0)
	return append(b, nonce...)
}
