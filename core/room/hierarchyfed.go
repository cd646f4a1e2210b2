package room

import (
	"context"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/eventauth"
)

// FederationHierarchy is the answer to GET /_matrix/federation/v1/
// hierarchy/{roomId}: the room with its m.space.child events, the
// summaries of its children this server knows and the asking server may
// see, and the children it knows that that server may not.
type FederationHierarchy struct {
	Room                 HierarchyRoom   `json:"room"`
	Children             []HierarchyRoom `json:"children"`
	InaccessibleChildren []string        `json:"inaccessible_children"`
}

// HierarchyForServer answers another server's hierarchy request for
// roomID, one level deep as the server-server API asks. A room is
// visible to origin when it is world-readable, public, knockable or
// restricted (origin then checks allowed_room_ids for its users), or when
// a user of origin is joined or invited. It returns M_NOT_FOUND when the
// room is unknown here or origin may not see it.
func (p *Pipeline) HierarchyForServer(ctx context.Context, origin, roomID string, suggestedOnly bool) (*FederationHierarchy, error) {
	hr, children, ok, err := p.hierarchyRoom(ctx, roomID, "", origin, suggestedOnly)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, core.ErrNotFound.WithMessage("room %s is unknown here or not visible to %s", roomID, origin)
	}
	out := &FederationHierarchy{Room: hr, Children: []HierarchyRoom{}, InaccessibleChildren: []string{}}
	for _, c := range children {
		ch, _, ok, err := p.hierarchyRoom(ctx, c.roomID, "", origin, suggestedOnly)
		if err != nil {
			return nil, err
		}
		if !ok {
			if _, err := p.Version(ctx, c.roomID); err == nil {
				out.InaccessibleChildren = append(out.InaccessibleChildren, c.roomID)
			}
			continue
		}
		out.Children = append(out.Children, ch)
	}
	return out, nil
}

// serverMayJoinOrPeek is mayJoinOrPeek for a server: Synapse's and the
// spec's rooms a remote server may learn about through the hierarchy.
func (p *Pipeline) serverMayJoinOrPeek(ctx context.Context, knock, knockRestricted bool, roomID, origin string, pr PublicRoom, restricted bool) (bool, error) {
	switch {
	case pr.WorldReadable, pr.JoinRule == eventauth.JoinRulePublic, restricted:
		return true, nil
	case knock && pr.JoinRule == eventauth.JoinRuleKnock, knockRestricted && pr.JoinRule == eventauth.JoinRuleKnockRestricted:
		return true, nil
	}
	st, err := p.stores.State.CurrentState(ctx, roomID, core.StateFilter{Types: map[string][]string{eventauth.TypeMember: nil}})
	if err != nil {
		return false, err
	}
	for k := range st {
		if !strings.HasSuffix(k.StateKey, ":"+origin) {
			continue
		}
		m, err := p.membershipOf(ctx, roomID, k.StateKey)
		if err != nil {
			return false, err
		}
		if m.Membership == eventauth.MembershipJoin || m.Membership == eventauth.MembershipInvite {
			return true, nil
		}
	}
	return false, nil
}
