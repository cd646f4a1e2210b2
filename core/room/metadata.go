package room

import "encoding/json"

// Metadata is the server bookkeeping the pipeline keeps beside each event
// it creates (core.NewEvent.InternalMetadata, as JSON). It is never sent
// to other servers.
type Metadata struct {
	// TxnID and DeviceID name the client transaction that sent the event,
	// so the sender's device sees unsigned.transaction_id.
	TxnID    string `json:"txn_id,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
	// ReplacesState is the state event this state event replaced in the
	// state before it ("" when the key was empty): unsigned.replaces_state
	// and the source of unsigned.prev_content.
	ReplacesState string `json:"replaces_state,omitempty"`
}

// ParseMetadata reads internal metadata; anything unreadable reads as
// empty (the metadata only adds optional fields for clients).
func ParseMetadata(b []byte) Metadata {
	var m Metadata
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func (m Metadata) marshal() []byte {
	if m == (Metadata{}) {
		return nil
	}
	b, _ := json.Marshal(m)
	return b
}
