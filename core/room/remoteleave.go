package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/pdu"
	"hearth.dev/hearth/core/roomversion"
	"hearth.dev/hearth/core/signing"
)

// LeaveRemote makes local user userID leave roomID, a room whose events
// this server does not hold, in which the user is invited: it rejects the
// invite through the inviting server (make_leave, send_leave) and records
// the leave as an out-of-band membership, so /sync moves the room to
// "leave". When no server in the room can be reached, the rejection is
// made and recorded here only (as Synapse does), so an invite can always
// be got rid of.
//
// It returns M_FORBIDDEN when the user has no invite to the room.
func (f *Federation) LeaveRemote(ctx context.Context, roomID, userID, reason string) error {
	p := f.p
	m, err := p.membershipOf(ctx, roomID, userID)
	if err != nil {
		return err
	}
	if m.EventID == "" || (m.Membership != eventauth.MembershipInvite && m.Membership != eventauth.MembershipKnock) {
		return core.ErrForbidden.WithMessage("%s is not invited to %s", userID, roomID)
	}
	invite, err := p.stores.Events.Event(ctx, m.EventID)
	if err != nil {
		return err
	}
	v, err := roomversion.Lookup(roomversion.ID(invite.RoomVersion))
	if err != nil {
		return err
	}
	content := map[string]any{"membership": eventauth.MembershipLeave}
	if reason != "" {
		content["reason"] = reason
	}
	var servers []string
	if u, err := id.ParseUserID(invite.Sender); err == nil {
		servers = append(servers, string(u.ServerName()))
	}
	var js []byte
	if f.cfg.Client != nil {
		for _, server := range joinCandidates(p.cfg.ServerName, roomID, servers) {
			if js, err = f.leaveThrough(ctx, server, v, roomID, userID, content); err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.cfg.Logger.InfoContext(ctx, "remote leave failed", "room_id", roomID, "server", server, "err", err)
			js = nil
		}
	}
	if js == nil {
		// Nobody reachable: a rejection of our own, after the invite.
		if js, err = f.localRejection(ctx, v, invite, userID, content); err != nil {
			return err
		}
	}
	ev, err := pdu.Parse(v, js)
	if err != nil {
		return err
	}
	ne := newEvent(v, ev, js, Metadata{}, p.now())
	ne.Outlier, ne.OutOfBandMembership = true, true
	if _, err := p.stores.Events.PersistEvents(ctx, []core.NewEvent{ne}, core.PersistOptions{}); err != nil {
		return err
	}
	p.notify()
	return nil
}

// leaveThrough does make_leave and send_leave with server and returns the
// leave event sent.
func (f *Federation) leaveThrough(ctx context.Context, server string, v *roomversion.Version, roomID, userID string, content map[string]any) ([]byte, error) {
	var made struct {
		RoomVersion string          `json:"room_version"`
		Event       json.RawMessage `json:"event"`
	}
	path := "/_matrix/federation/v1/make_leave/" + url.PathEscape(roomID) + "/" + url.PathEscape(userID)
	if err := f.cfg.Client.Request(ctx, server, "GET", path, nil, &made); err != nil {
		return nil, err
	}
	if made.RoomVersion != "" && made.RoomVersion != string(v.ID) {
		return nil, errors.New("make_leave names another room version than the invite")
	}
	js, err := f.fillMembership(v, roomID, userID, content, made.Event)
	if err != nil {
		return nil, err
	}
	ev, err := pdu.Parse(v, js)
	if err != nil {
		return nil, err
	}
	path = "/_matrix/federation/v2/send_leave/" + url.PathEscape(roomID) + "/" + url.PathEscape(ev.EventID)
	if err := f.cfg.Client.Request(ctx, server, "PUT", path, json.RawMessage(js), nil); err != nil {
		return nil, err
	}
	return js, nil
}

// localRejection builds a leave event after the invite, signed by this
// server only, for when the room cannot be reached.
func (f *Federation) localRejection(ctx context.Context, v *roomversion.Version, invite *core.StoredEvent, userID string, content map[string]any) ([]byte, error) {
	p := f.p
	inv, err := pdu.Parse(v, invite.JSON)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	sk := userID
	pr := Proto{Type: eventauth.TypeMember, StateKey: &sk, Sender: userID, Content: raw}
	if err := checkProto(v, &pr); err != nil {
		return nil, err
	}
	ev, err := p.place(v, inv.RoomID, pr, []*pdu.PDU{inv}, func(k eventauth.StateKey) (*pdu.PDU, error) {
		if k.Type == eventauth.TypeMember && k.StateKey == userID {
			return inv, nil
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if v.EventFormat == roomversion.FormatV1 {
		ev.EventID = "$" + rand.Text() + ":" + p.cfg.ServerName
	}
	if err := signing.SignEvent(v, ev, p.cfg.ServerName, p.cfg.Key.ID, p.cfg.Key.Private); err != nil {
		return nil, err
	}
	if v.EventFormat != roomversion.FormatV1 {
		if ev.EventID, err = ev.ComputeEventID(v); err != nil {
			return nil, err
		}
	}
	return ev.MarshalFor(v)
}
