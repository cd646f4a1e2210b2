package room

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
)

// Third-party invites (server-server API, "Third-party invites"): a local
// user invited an e-mail address with an m.room.third_party_invite event;
// once the address is bound to a Matrix ID, the identity server tells that
// ID's server (PUT /3pid/onbind), which asks the inviting server to turn
// the third-party invite into an invite of the ID (PUT
// /exchange_third_party_invite/{roomId}). hearth has no identity server
// integration of its own (it never stores an invite on one), but it serves
// both sides of this exchange: the auth rules (5.4.1) do the checking.

// thirdPartyPartial is the partial m.room.member event of
// /exchange_third_party_invite.
type thirdPartyPartial struct {
	Type     string `json:"type"`
	RoomID   string `json:"room_id"`
	Sender   string `json:"sender"`
	StateKey string `json:"state_key"`
	Content  struct {
		Membership       string `json:"membership"`
		ThirdPartyInvite *struct {
			DisplayName string          `json:"display_name"`
			Signed      json.RawMessage `json:"signed"`
		} `json:"third_party_invite"`
	} `json:"content"`
}

// ExchangeThirdPartyInvite answers origin's PUT
// /exchange_third_party_invite/{roomID}: raw is a partial m.room.member
// invite of one of origin's users by the local user who sent the room's
// m.room.third_party_invite, carrying the identity server's signed object.
// The invite is built as that user, sent to origin to sign ("Inviting to a
// room") and sent into the room; the auth rules check the signed object
// against the m.room.third_party_invite's public keys. display_name, when
// missing, is taken from that event.
//
// It returns a *core.Error: M_BAD_JSON for a body that is not such an
// event, M_FORBIDDEN when the inviter is not a local user, the invitee is
// not origin's, or the auth rules refuse the invite.
func (f *Federation) ExchangeThirdPartyInvite(ctx context.Context, origin, roomID string, raw json.RawMessage) error {
	p := f.p
	var ev thirdPartyPartial
	if err := json.Unmarshal(raw, &ev); err != nil {
		return core.ErrBadJSON.WithMessage("the body is not a partial m.room.member event: %v", err)
	}
	tpi := ev.Content.ThirdPartyInvite
	switch {
	case ev.Type != eventauth.TypeMember:
		return core.ErrBadJSON.WithMessage("type must be m.room.member")
	case ev.RoomID != roomID:
		return core.ErrBadJSON.WithMessage("room_id %q is not the room of the path", ev.RoomID)
	case ev.Content.Membership != eventauth.MembershipInvite:
		return core.ErrBadJSON.WithMessage("content.membership must be invite")
	case tpi == nil || len(tpi.Signed) == 0 || tpi.Signed[0] != '{':
		return core.ErrBadJSON.WithMessage("content.third_party_invite.signed is required")
	}
	if !p.isLocal(ev.Sender) {
		return core.ErrForbidden.WithMessage("%s is not a user of this server", ev.Sender)
	}
	target, err := id.ParseUserID(ev.StateKey)
	if err != nil {
		return core.ErrBadJSON.WithMessage("state_key %q is not a user ID", ev.StateKey)
	}
	if string(target.ServerName()) != origin {
		return core.ErrForbidden.WithMessage("%s is not a user of %s", ev.StateKey, origin)
	}
	if _, err := p.Version(ctx, roomID); err != nil {
		return forbiddenIfUnknown(err, roomID)
	}
	var signed struct {
		Token string `json:"token"`
	}
	json.Unmarshal(tpi.Signed, &signed)
	displayName := tpi.DisplayName
	if displayName == "" && signed.Token != "" {
		key := core.StateKey{Type: eventauth.TypeThirdPartyInvite, StateKey: signed.Token}
		if se, err := p.StateEvent(ctx, roomID, ev.Sender, key); err == nil {
			var c struct {
				DisplayName string `json:"display_name"`
			}
			json.Unmarshal(se.PDU.Content, &c)
			displayName = c.DisplayName
		}
	}
	content, err := json.Marshal(map[string]any{"membership": eventauth.MembershipInvite,
		"third_party_invite": map[string]any{"display_name": displayName, "signed": tpi.Signed}})
	if err != nil {
		return err
	}
	t := ev.StateKey
	pr := Proto{Type: eventauth.TypeMember, StateKey: &t, Sender: ev.Sender, Content: content, countersign: f.sendInvite}
	_, err = p.Send(ctx, roomID, pr, nil)
	return forbiddenIfUnknown(err, roomID)
}

// ThirdPartyBinding is one pending invite of PUT /3pid/onbind.
type ThirdPartyBinding struct {
	MXID   string          `json:"mxid"`
	RoomID string          `json:"room_id"`
	Sender string          `json:"sender"`
	Signed json.RawMessage `json:"signed"`
}

// BindThirdPartyInvites takes in an identity server's PUT /3pid/onbind
// for mxid, a local user: each pending invite goes to the inviter's server
// as /exchange_third_party_invite, which issues the invite of mxid (it
// then reaches this server as any invite does). Invites for another user
// are skipped; the error of each failed exchange is joined into the one
// returned (the others went through).
func (f *Federation) BindThirdPartyInvites(ctx context.Context, mxid string, invites []ThirdPartyBinding) error {
	p := f.p
	if !p.isLocal(mxid) {
		return core.ErrInvalidParam.WithMessage("%s is not a user of this server", mxid)
	}
	if f.cfg.Client == nil {
		return core.ErrForbidden.WithMessage("third-party invites need a federation client")
	}
	var errs []error
	for _, in := range invites {
		if in.MXID != mxid || len(in.Signed) == 0 {
			continue
		}
		server, err := checkRemoteTarget(in.Sender)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body := map[string]any{"type": eventauth.TypeMember, "room_id": in.RoomID, "sender": in.Sender, "state_key": mxid,
			"content": map[string]any{"membership": eventauth.MembershipInvite,
				"third_party_invite": map[string]any{"signed": in.Signed}}}
		if p.isLocal(in.Sender) {
			if raw, err := json.Marshal(body); err != nil {
				errs = append(errs, err)
			} else {
				errs = append(errs, f.ExchangeThirdPartyInvite(ctx, p.cfg.ServerName, in.RoomID, raw))
			}
			continue
		}
		path := "/_matrix/federation/v1/exchange_third_party_invite/" + url.PathEscape(in.RoomID)
		if err := f.cfg.Client.Request(ctx, server, "PUT", path, body, nil); err != nil {
			var me *core.Error
			if !errors.As(err, &me) {
				err = core.ErrUnavailable.WithMessage("could not reach %s for the invite to %s", server, in.RoomID)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
