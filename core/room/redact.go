package room

import (
	"context"
	"encoding/json"
	"errors"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// Redact has sender redact the event targetID in roomID, with an optional
// reason, as PUT /rooms/{roomId}/redact/{eventId}/{txnId} does: anyone may
// redact their own events; redacting someone else's needs the redact power
// level. txn makes the request idempotent as for Send. It returns the
// redaction's event ID; M_NOT_FOUND if targetID is not an event of the
// room, M_FORBIDDEN if sender may not redact it.
func (p *Pipeline) Redact(ctx context.Context, roomID, sender, targetID, reason string, txn *core.TxnID) (string, error) {
	v, err := p.Version(ctx, roomID)
	if err != nil {
		return "", forbiddenIfUnknown(err, roomID)
	}
	target, err := p.Event(ctx, targetID)
	if errors.Is(err, core.ErrNotFound) || err == nil && target.Stored.RoomID != roomID {
		return "", core.ErrNotFound.WithMessage("event %s not found in %s", targetID, roomID)
	}
	if err != nil {
		return "", err
	}
	if target.PDU.Sender != sender {
		pl, create, err := p.powerEvents(ctx, roomID)
		if err != nil {
			return "", err
		}
		need := int64(50)
		if pl != nil {
			need = plLevel(pl.Content, "redact", 50)
		}
		if have := eventauth.UserPowerLevel(v, sender, pl, create); have < need {
			return "", core.ErrForbidden.WithMessage("redacting another user's event needs power level %d; you have %d", need, have)
		}
	}
	content := map[string]string{}
	if reason != "" {
		content["reason"] = reason
	}
	if v.RedactsInContent {
		content["redacts"] = targetID
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return "", err
	}
	id, err := p.Send(ctx, roomID, Proto{Type: eventauth.TypeRedaction, Sender: sender, Content: raw, Redacts: targetID}, txn)
	return id, forbiddenIfUnknown(err, roomID)
}
