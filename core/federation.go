package core

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

// KeyRing gives other servers' signing keys, for the signature checks on
// received events. The federation transport implements it with keys fetched
// from the servers (or notaries) and cached in the database.
type KeyRing interface {
	// VerifyKey returns the public key keyID ("ed25519:...") of serverName
	// that was valid at validAtTS (milliseconds since the epoch; 0 when any
	// key the server ever had will do, for room versions that do not
	// enforce key validity). It returns an error wrapping ErrNotFound when
	// the server has no such key or the key was not valid then; any other
	// error (the server could not be reached) is transient.
	VerifyKey(ctx context.Context, serverName, keyID string, validAtTS int64) (ed25519.PublicKey, error)
}

// FederationClient makes requests to other servers: the federation
// transport's signed HTTP client (natively), or relay frames (in the
// browser).
type FederationClient interface {
	// Request sends method path (the path and query of a
	// /_matrix/federation/... URL) to destination with body (nil for none)
	// marshalled as JSON, and decodes the JSON answer into out (nil to
	// ignore it). A Matrix error answer is returned as a *Error with the
	// errcode and status the server sent; failures to reach the server are
	// returned as other errors.
	Request(ctx context.Context, destination, method, path string, body, out any) error
}

// StreamDecoder is an answer a FederationClient decodes token by token
// from the response body instead of reading the body whole first, so a
// large answer (send_join's room state) is never held twice.
type StreamDecoder interface {
	DecodeStream(dec *json.Decoder) error
}

// PDUReceiver takes in events other servers send: the PDU layer of seed
// 001, behind the transaction layer's PUT /send/{txnId}.
type PDUReceiver interface {
	// ReceivePDUs checks and stores the PDUs of one transaction from
	// origin, and returns the outcome of each, keyed by event ID (nil:
	// accepted, or already known; otherwise why it was dropped or
	// rejected). A PDU whose event ID cannot even be computed is keyed by
	// its index, "#0", "#1", ...
	ReceivePDUs(ctx context.Context, origin string, pdus []json.RawMessage) map[string]error
}

// SendJoinResponse is the answer to PUT /send_join (v2), as the resident
// server sent it.
type SendJoinResponse struct {
	// State is the room state before the join event.
	State []json.RawMessage `json:"state"`
	// AuthChain is the auth chain of the state and of the join event.
	AuthChain []json.RawMessage `json:"auth_chain"`
	// Event is the join event as the resident server signed it (restricted
	// joins); nil when it is the event that was sent.
	Event json.RawMessage `json:"event,omitempty"`
	// MembersOmitted is true when the server left out members (partial
	// state, MSC3706); hearth never asks for that.
	MembersOmitted bool     `json:"members_omitted,omitempty"`
	ServersInRoom  []string `json:"servers_in_room,omitempty"`
	Origin         string   `json:"origin,omitempty"`
}

// DecodeStream decodes a send_join answer from dec one event at a time:
// only the events' own bytes are kept, never the whole body beside them.
func (r *SendJoinResponse) DecodeStream(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case "state":
			r.State, err = decodeRawArray(dec)
		case "auth_chain":
			r.AuthChain, err = decodeRawArray(dec)
		case "event":
			err = dec.Decode(&r.Event)
		case "members_omitted":
			err = dec.Decode(&r.MembersOmitted)
		case "servers_in_room":
			err = dec.Decode(&r.ServersInRoom)
		case "origin":
			err = dec.Decode(&r.Origin)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

// decodeRawArray decodes a JSON array (or null) of values, each kept as
// its own bytes.
func decodeRawArray(dec *json.Decoder) ([]json.RawMessage, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, nil
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("want an array, got %v", t)
	}
	var out []json.RawMessage
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, t)
	}
	return nil
}
