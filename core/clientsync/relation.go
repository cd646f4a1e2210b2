package clientsync

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"hearth.dev/hearth/core"
)

// Relation types the server aggregates.
const (
	RelThread    = "m.thread"
	RelReplace   = "m.replace"
	RelReference = "m.reference"
)

// MaxRelationDepth is how deep recurse=true follows relations (the spec
// asks for at least 3 levels).
const MaxRelationDepth = 3

// RelationQuery selects the children of an event for /relations.
type RelationQuery struct {
	RoomID   string
	ParentID string
	// RelType and EventType, when set, keep only children with that
	// relation type and event type.
	RelType   string
	EventType string
	// From and To bound the children strictly, in topological order; Dir
	// is the order of the result.
	From, To core.TopologicalToken
	Dir      core.Direction
	Limit    int
	// Depth is how many relations may separate a child from the parent:
	// 1 for direct children only.
	Depth int
}

// Aggregation is what the server bundles for one parent event.
type Aggregation struct {
	// ThreadCount is the number of m.thread children (0: not a thread
	// root), ThreadLatest the topologically latest of them, and
	// ThreadParticipated whether the user sent the root or one of them.
	ThreadCount        int
	ThreadLatest       string
	ThreadParticipated bool
	// Edit is the most recent valid m.replace child ("" for none).
	Edit string
	// References are the m.reference children, oldest first.
	References []string
}

// ThreadRoot is one thread of a room, for /threads.
type ThreadRoot struct {
	EventID string
	// Latest is the position of the thread's latest event.
	Latest core.TopologicalToken
}

// RelationStore indexes the relations between events (content's
// m.relates_to) as events are persisted. Only events in the timeline
// (not outliers, rejected or soft-failed ones) that have not been
// redacted count as children.
type RelationStore interface {
	// Relations returns the children selected by q, at most q.Limit, in
	// topological order q.Dir. It returns an error wrapping
	// core.ErrNotFound for an unknown room.
	Relations(ctx context.Context, q RelationQuery) ([]*core.StoredEvent, error)
	// Aggregations returns the aggregations of the parents among
	// parentIDs that have children (the others are absent), for userID,
	// leaving out children sent by ignored users. A valid edit has the
	// parent's sender and type, neither is a state event, the parent is
	// not an edit itself, and its content has m.new_content (or it is
	// encrypted); the most recent is the one with the greatest
	// origin_server_ts, then event ID.
	Aggregations(ctx context.Context, parentIDs []string, userID string, ignored []string) (map[string]*Aggregation, error)
	// Threads returns at most limit thread roots of roomID whose latest
	// event is before from, the most recently active first; with
	// participated, only threads userID sent the root of or an event in.
	Threads(ctx context.Context, roomID, userID string, participated bool, from core.TopologicalToken, limit int) ([]ThreadRoot, error)
}

// bundle adds the bundled aggregations (unsigned.m.relations) to the
// client events ces formatted from evs. State events get none.
func (s *Service) bundle(ctx context.Context, f *formatter, ces []*ClientEvent, evs []*core.StoredEvent, ignored map[string]bool) error {
	rs := s.stores.Relations
	if rs == nil || len(evs) == 0 || f.format == FormatFederation {
		return nil
	}
	parents := make([]string, 0, len(evs))
	for _, ev := range evs {
		if ev.StateKey == nil {
			parents = append(parents, ev.EventID)
		}
	}
	if len(parents) == 0 {
		return nil
	}
	aggs, err := rs.Aggregations(ctx, parents, f.cf.UserID, slices.Sorted(maps.Keys(ignored)))
	if err != nil || len(aggs) == 0 {
		return err
	}
	// Load and format the latest thread events and edits together.
	var need []string
	for _, a := range aggs {
		if a.ThreadLatest != "" {
			need = append(need, a.ThreadLatest)
		}
		if a.Edit != "" {
			need = append(need, a.Edit)
		}
	}
	children, err := s.loadOrdered(ctx, need)
	if err != nil {
		return err
	}
	formatted, err := f.formatAll(ctx, children)
	if err != nil {
		return err
	}
	byID := make(map[string]*ClientEvent, len(formatted))
	for _, ce := range formatted {
		byID[ce.EventID] = ce
	}
	for i, ev := range evs {
		a := aggs[ev.EventID]
		ce := ces[i]
		if a == nil {
			continue
		}
		rel := map[string]any{}
		if a.ThreadCount > 0 {
			if latest := byID[a.ThreadLatest]; latest != nil {
				rel[RelThread] = map[string]any{
					"latest_event":              latest,
					"count":                     a.ThreadCount,
					"current_user_participated": a.ThreadParticipated,
				}
			}
		}
		// An edit is not bundled with a redacted original.
		if edit := byID[a.Edit]; edit != nil && !ce.Redacted {
			rel[RelReplace] = edit
		}
		if len(a.References) > 0 {
			chunk := make([]map[string]string, len(a.References))
			for j, id := range a.References {
				chunk[j] = map[string]string{"event_id": id}
			}
			rel[RelReference] = map[string]any{"chunk": chunk}
		}
		if len(rel) > 0 {
			ce.Relations = rel
		}
	}
	return nil
}

// Limits of /relations and /threads.
const (
	DefaultRelationsLimit = 50
	MaxRelationsLimit     = 1000
	DefaultThreadsLimit   = 20
	MaxThreadsLimit       = 100
)

// RelationsRequest is one /rooms/{roomId}/relations/{eventId} request.
type RelationsRequest struct {
	Viewer    Viewer
	RoomID    string
	EventID   string
	RelType   string
	EventType string
	From, To  *PageToken
	Dir       core.Direction
	Limit     int
	Recurse   bool
}

// RelationsResponse is the response of /relations.
type RelationsResponse struct {
	Chunk          []*ClientEvent `json:"chunk"`
	NextBatch      string         `json:"next_batch,omitempty"`
	PrevBatch      string         `json:"prev_batch,omitempty"`
	RecursionDepth *int           `json:"recursion_depth,omitempty"`
}

// Relations answers /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
func (s *Service) Relations(ctx context.Context, req RelationsRequest) (*RelationsResponse, error) {
	if s.stores.Relations == nil {
		return nil, core.ErrUnrecognized.WithMessage("relations are not indexed by this server")
	}
	if err := s.checkReader(ctx, req.RoomID, req.Viewer.UserID); err != nil {
		if errors.Is(err, core.ErrForbidden) {
			return nil, ErrEventNotFound
		}
		return nil, err
	}
	if _, err := s.visibleEvent(ctx, req.RoomID, req.Viewer.UserID, req.EventID); err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultRelationsLimit
	}
	limit = min(limit, MaxRelationsLimit)
	from, to, err := s.bounds(ctx, req.RoomID, req.From, req.To, req.Dir)
	if err != nil {
		return nil, err
	}
	depth := 1
	if req.Recurse {
		depth = MaxRelationDepth
	}
	got, err := s.stores.Relations.Relations(ctx, RelationQuery{
		RoomID: req.RoomID, ParentID: req.EventID, RelType: req.RelType, EventType: req.EventType,
		From: from, To: to, Dir: req.Dir, Limit: limit + 1, Depth: depth,
	})
	if err != nil {
		return nil, err
	}
	resp := &RelationsResponse{}
	if len(got) > limit {
		got = got[:limit]
		resp.NextBatch = EventPage(got[limit-1]).String()
	}
	if req.From != nil {
		resp.PrevBatch = req.From.String()
	}
	if req.Recurse {
		resp.RecursionDepth = &depth
	}
	ignored, err := s.ignoredUsers(ctx, req.Viewer.UserID)
	if err != nil {
		return nil, err
	}
	got = slices.DeleteFunc(got, func(ev *core.StoredEvent) bool { return ignored[ev.Sender] })
	evs, err := s.visible(ctx, req.Viewer.UserID, got)
	if err != nil {
		return nil, err
	}
	f := s.formatter(req.Viewer, false)
	if resp.Chunk, err = f.formatAll(ctx, evs); err != nil {
		return nil, err
	}
	if err := s.bundle(ctx, f, resp.Chunk, evs, ignored); err != nil {
		return nil, err
	}
	return resp, nil
}

// ThreadsRequest is one /rooms/{roomId}/threads request.
type ThreadsRequest struct {
	Viewer       Viewer
	RoomID       string
	Participated bool
	From         *PageToken
	Limit        int
}

// ThreadsResponse is the response of /threads.
type ThreadsResponse struct {
	Chunk     []*ClientEvent `json:"chunk"`
	NextBatch string         `json:"next_batch,omitempty"`
}

// Threads answers /rooms/{roomId}/threads.
func (s *Service) Threads(ctx context.Context, req ThreadsRequest) (*ThreadsResponse, error) {
	if s.stores.Relations == nil {
		return nil, core.ErrUnrecognized.WithMessage("threads are not indexed by this server")
	}
	if err := s.checkReader(ctx, req.RoomID, req.Viewer.UserID); err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultThreadsLimit
	}
	limit = min(limit, MaxThreadsLimit)
	from := core.TopologicalEnd
	if req.From != nil {
		if !req.From.Topological {
			return nil, ErrInvalidToken
		}
		from = req.From.Topo
	}
	roots, err := s.stores.Relations.Threads(ctx, req.RoomID, req.Viewer.UserID, req.Participated, from, limit+1)
	if err != nil {
		return nil, err
	}
	resp := &ThreadsResponse{}
	if len(roots) > limit {
		roots = roots[:limit]
		resp.NextBatch = TopologicalPage(roots[limit-1].Latest).String()
	}
	ids := make([]string, len(roots))
	for i, r := range roots {
		ids[i] = r.EventID
	}
	stored, err := s.loadOrdered(ctx, ids)
	if err != nil {
		return nil, err
	}
	stored = slices.DeleteFunc(stored, func(ev *core.StoredEvent) bool {
		return ev.RoomID != req.RoomID || ev.Outlier || ev.Rejected != "" || ev.SoftFailed
	})
	evs, err := s.visible(ctx, req.Viewer.UserID, stored)
	if err != nil {
		return nil, err
	}
	ignored, err := s.ignoredUsers(ctx, req.Viewer.UserID)
	if err != nil {
		return nil, err
	}
	f := s.formatter(req.Viewer, false)
	if resp.Chunk, err = f.formatAll(ctx, evs); err != nil {
		return nil, err
	}
	if err := s.bundle(ctx, f, resp.Chunk, evs, ignored); err != nil {
		return nil, err
	}
	for i, ev := range evs {
		if ignored[ev.Sender] {
			// A root sent by an ignored user comes back as if redacted.
			resp.Chunk[i].emptyContent = true
		}
	}
	return resp, nil
}

// BundleEvent adds the bundled aggregations to ev formatted for viewer
// (for GET /rooms/{roomId}/event/{eventId}, whose handler formats the
// event itself). It returns formatted unchanged when ev has nothing to
// bundle.
func (s *Service) BundleEvent(ctx context.Context, viewer Viewer, ev *core.StoredEvent, formatted json.RawMessage) (json.RawMessage, error) {
	ignored, err := s.ignoredUsers(ctx, viewer.UserID)
	if err != nil {
		return nil, err
	}
	f := s.formatter(viewer, false)
	ce := &ClientEvent{EventID: ev.EventID, raw: formatted}
	if len(ev.RedactedBy) > 0 {
		ce.Redacted = redactedJSON(formatted)
	}
	if err := s.bundle(ctx, f, []*ClientEvent{ce}, []*core.StoredEvent{ev}, ignored); err != nil {
		return nil, err
	}
	if len(ce.Relations) == 0 {
		return formatted, nil
	}
	return ce.MarshalJSON()
}
