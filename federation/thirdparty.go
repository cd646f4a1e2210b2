package federation

import (
	"context"
	"encoding/json"
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/matrixhttp"
)

// ThirdPartyInvites turns third-party invites into invites of the Matrix
// IDs bound to them (core/room's Federation implements it).
type ThirdPartyInvites interface {
	// ExchangeThirdPartyInvite issues the invite of origin's user that
	// raw, a partial m.room.member event, describes.
	ExchangeThirdPartyInvite(ctx context.Context, origin, roomID string, raw json.RawMessage) error
	// BindThirdPartyInvites has the inviting servers issue the invites
	// pending for mxid, a local user.
	BindThirdPartyInvites(ctx context.Context, mxid string, invites []room.ThirdPartyBinding) error
}

// maxOnBindInvites bounds the invites of one /3pid/onbind: each costs a
// request to another server, and the endpoint has no authentication.
const maxOnBindInvites = 20

// exchangeThirdPartyInvite answers PUT
// /_matrix/federation/v1/exchange_third_party_invite/{roomId} with {} once
// the invite has been issued.
func (m *Messaging) exchangeThirdPartyInvite(w http.ResponseWriter, r *http.Request, origin string) error {
	var raw json.RawMessage
	if err := matrixhttp.ReadJSONLimit(r, &raw, MaxRequestBody); err != nil {
		return err
	}
	if err := m.opts.ThirdPartyInvites.ExchangeThirdPartyInvite(r.Context(), origin, r.PathValue("roomID"), raw); err != nil {
		return err
	}
	matrixhttp.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

// onBind answers PUT /_matrix/federation/v1/3pid/onbind, which identity
// servers call without X-Matrix authentication: the pending invites of the
// newly bound local user are exchanged with the servers that sent them.
// The signed objects are checked there, by the auth rules; here only the
// shape, the user and the number of invites.
func (m *Messaging) onBind(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Medium  string                   `json:"medium"`
		Address string                   `json:"address"`
		MXID    string                   `json:"mxid"`
		Invites []room.ThirdPartyBinding `json:"invites"`
	}
	if err := matrixhttp.ReadJSONLimit(r, &body, MaxRequestBody); err != nil {
		matrixhttp.WriteError(w, r, err)
		return
	}
	switch {
	case body.Medium == "" || body.Address == "" || body.MXID == "" || body.Invites == nil:
		matrixhttp.WriteError(w, r, core.ErrBadJSON.WithMessage("medium, address, mxid and invites are required"))
		return
	case len(body.Invites) > maxOnBindInvites:
		matrixhttp.WriteError(w, r, core.ErrBadJSON.WithMessage("at most %d invites per binding", maxOnBindInvites))
		return
	}
	if err := m.localUser(r.Context(), body.MXID); err != nil {
		matrixhttp.WriteError(w, r, err)
		return
	}
	if err := m.opts.ThirdPartyInvites.BindThirdPartyInvites(r.Context(), body.MXID, body.Invites); err != nil {
		matrixhttp.WriteError(w, r, err)
		return
	}
	matrixhttp.WriteJSON(w, http.StatusOK, struct{}{})
}
