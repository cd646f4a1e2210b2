package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/matrixhttp"
)

// Deleting a room, as Synapse's Delete Room API does: the local users
// leave it (each one's own leave, through the room pipeline) and forget
// it, its local aliases go (or move to a new room), it leaves the room
// directory, it may be blocked, and with purge (the default) every trace
// of it is removed from the database in one write. Version 2 answers at
// once with a delete_id and works in the background; its status is kept in
// memory for a day after it ends (Synapse: "up to 24 hours after
// completion of the task, or until Synapse is restarted").

// Delete task states.
const (
	deleteScheduled = "scheduled"
	deleteActive    = "active"
	deleteComplete  = "complete"
	deleteFailed    = "failed"
)

// deleteStatusKeep is how long an ended delete task's status is kept.
const deleteStatusKeep = 24 * time.Hour

// Defaults of the new room a delete moves users into.
const (
	defaultShutdownRoomName = "Content Violation Notification"
	defaultShutdownMessage  = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
)

// deleteRoomRequest is the body of DELETE /v1 and /v2/rooms/{roomId}.
type deleteRoomRequest struct {
	NewRoomUserID string  `json:"new_room_user_id"`
	RoomName      *string `json:"room_name"`
	Message       *string `json:"message"`
	Block         bool    `json:"block"`
	Purge         *bool   `json:"purge"`
	ForcePurge    bool    `json:"force_purge"`
}

// shutdownResult is what shutting a room down did.
type shutdownResult struct {
	KickedUsers       []string `json:"kicked_users"`
	FailedToKickUsers []string `json:"failed_to_kick_users"`
	LocalAliases      []string `json:"local_aliases"`
	NewRoomID         *string  `json:"new_room_id"`
}

// clone copies r, so it can be encoded while the task goes on.
func (r shutdownResult) clone() shutdownResult {
	r.KickedUsers = slices.Clone(r.KickedUsers)
	r.FailedToKickUsers = slices.Clone(r.FailedToKickUsers)
	r.LocalAliases = slices.Clone(r.LocalAliases)
	return r
}

// roomDelete is one delete task.
type roomDelete struct {
	ID     string
	RoomID string
	seq    int // order of creation
	// Guarded by roomDeletes.mu.
	status string
	errMsg string
	result shutdownResult
	ended  time.Time
}

// roomDeletes keeps the delete tasks of a Server.
type roomDeletes struct {
	mu    sync.Mutex
	tasks map[string]*roomDelete // by delete ID
	seq   int
	// wg counts running tasks (tests wait on it).
	wg sync.WaitGroup
}

// start records a new task for roomID, or returns nil if one is already
// under way for it. Ended tasks older than deleteStatusKeep are dropped.
func (d *roomDeletes) start(roomID string, now time.Time) *roomDelete {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tasks == nil {
		d.tasks = map[string]*roomDelete{}
	}
	for k, t := range d.tasks {
		switch {
		case t.RoomID == roomID && (t.status == deleteScheduled || t.status == deleteActive):
			return nil
		case !t.ended.IsZero() && now.Sub(t.ended) > deleteStatusKeep:
			delete(d.tasks, k)
		}
	}
	d.seq++
	t := &roomDelete{ID: rand.Text(), RoomID: roomID, seq: d.seq, status: deleteScheduled,
		result: shutdownResult{KickedUsers: []string{}, FailedToKickUsers: []string{}, LocalAliases: []string{}}}
	d.tasks[t.ID] = t
	return t
}

// update changes a task under the lock.
func (d *roomDeletes) update(t *roomDelete, f func(t *roomDelete)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(t)
}

// statusJSON is a task's status: the by-ID answer, and each entry of the
// by-room answer.
func (d *roomDeletes) statusJSON(t *roomDelete) map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]any{
		"delete_id":     t.ID,
		"room_id":       t.RoomID,
		"status":        t.status,
		"shutdown_room": t.result.clone(),
	}
	if t.status == deleteFailed {
		out["error"] = t.errMsg
	}
	return out
}

// byID returns the task with deleteID, nil if unknown or expired.
func (d *roomDeletes) byID(deleteID string, now time.Time) *roomDelete {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[deleteID]
	if t == nil || !t.ended.IsZero() && now.Sub(t.ended) > deleteStatusKeep {
		return nil
	}
	return t
}

// byRoom returns the tasks of roomID, oldest first.
func (d *roomDeletes) byRoom(roomID string, now time.Time) []*roomDelete {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*roomDelete
	for _, t := range d.tasks {
		if t.RoomID == roomID && (t.ended.IsZero() || now.Sub(t.ended) <= deleteStatusKeep) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *roomDelete) int { return a.seq - b.seq })
	return out
}

// parseDeleteRoom reads and checks a delete request: the room ID, the
// body, and that the room is known unless it is only to be blocked.
func (s *Server) parseDeleteRoom(r *http.Request) (string, deleteRoomRequest, error) {
	var body deleteRoomRequest
	roomID, err := adminRoomID(r, "roomId")
	if err != nil {
		return "", body, err
	}
	// Synapse insists on a body, at least {}.
	raw, err := matrixhttp.ReadBody(r, maxJSONBody)
	if err != nil {
		return "", body, err
	}
	if len(raw) == 0 {
		return "", body, core.ErrNotJSON.WithMessage("The body must be a JSON object, at least {}")
	}
	if err := matrixhttp.CheckJSON(raw); err != nil {
		return "", body, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", body, core.ErrBadJSON.WithMessage("%s", describeJSONError(err))
	}
	if body.NewRoomUserID != "" {
		uid, err := id.ParseUserID(body.NewRoomUserID)
		if err != nil || string(uid.ServerName()) != s.opts.ServerName {
			return "", body, core.ErrInvalidParam.WithMessage("User must be our own: %s", body.NewRoomUserID)
		}
	}
	if _, err := s.opts.AdminRooms.AdminRoom(r.Context(), roomID); errors.Is(err, core.ErrNotFound) {
		if !body.Block {
			return "", body, core.ErrNotFound.WithMessage("Unknown room id %s", roomID)
		}
	} else if err != nil {
		return "", body, err
	}
	return roomID, body, nil
}

// deleteAdminRoomV2 answers DELETE /_synapse/admin/v2/rooms/{roomId}: it
// starts the delete and answers its delete_id.
func (s *Server) deleteAdminRoomV2(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, body, err := s.parseDeleteRoom(r)
	if err != nil {
		return err
	}
	t := s.deletes.start(roomID, s.opts.Now())
	if t == nil {
		return core.ErrUnknown.WithStatus(http.StatusBadRequest).WithMessage("History purge already in progress for %s", roomID)
	}
	s.deletes.wg.Add(1)
	go func() {
		defer s.deletes.wg.Done()
		// The request's context ends with its answer; the delete does not.
		s.runRoomDelete(context.Background(), t, sess.UserID, body)
	}()
	writeJSON(w, http.StatusOK, map[string]any{"delete_id": t.ID})
	return nil
}

// deleteAdminRoomV1 answers DELETE /_synapse/admin/v1/rooms/{roomId}: the
// same delete, answered once it is done.
func (s *Server) deleteAdminRoomV1(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	roomID, body, err := s.parseDeleteRoom(r)
	if err != nil {
		return err
	}
	t := s.deletes.start(roomID, s.opts.Now())
	if t == nil {
		return core.ErrUnknown.WithStatus(http.StatusBadRequest).WithMessage("History purge already in progress for %s", roomID)
	}
	if err := s.runRoomDelete(context.WithoutCancel(r.Context()), t, sess.UserID, body); err != nil {
		return err
	}
	s.deletes.mu.Lock()
	res := t.result.clone()
	s.deletes.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
	return nil
}

// runRoomDelete runs task t and records how it ended.
func (s *Server) runRoomDelete(ctx context.Context, t *roomDelete, adminID string, req deleteRoomRequest) error {
	err := s.shutdownRoom(ctx, t, adminID, req)
	s.deletes.update(t, func(t *roomDelete) {
		t.ended = s.opts.Now()
		t.status = deleteComplete
		if err != nil {
			t.status = deleteFailed
			var me *core.Error
			if errors.As(err, &me) {
				t.errMsg = me.Message
			} else {
				t.errMsg = "Internal server error"
			}
		}
	})
	if err != nil {
		slog.ErrorContext(ctx, "deleting a room failed", "room_id", t.RoomID, "delete_id", t.ID, "err", err)
	}
	return err
}

// leavesOnShutdown are the memberships a local user is removed from.
var leavesOnShutdown = []string{core.MembershipJoin, core.MembershipInvite, core.MembershipKnock}

// shutdownRoom does the work of a delete task.
func (s *Server) shutdownRoom(ctx context.Context, t *roomDelete, adminID string, req deleteRoomRequest) error {
	rooms, store := s.opts.Rooms, s.opts.AdminRooms
	roomID := t.RoomID
	s.deletes.update(t, func(t *roomDelete) { t.status = deleteActive })
	if req.Block {
		if err := store.SetRoomBlock(ctx, roomID, true, adminID); err != nil {
			return err
		}
	}
	if _, err := store.AdminRoom(ctx, roomID); errors.Is(err, core.ErrNotFound) {
		if req.Block {
			return nil // blocked ahead of time; nothing else to do
		}
		return core.ErrNotFound.WithMessage("Unknown room id %s", roomID)
	} else if err != nil {
		return err
	}

	var newRoom string
	if req.NewRoomUserID != "" {
		var err error
		if newRoom, err = s.createShutdownRoom(ctx, req); err != nil {
			return err
		}
		s.deletes.update(t, func(t *roomDelete) { t.result.NewRoomID = &newRoom })
	}

	members, err := store.LocalMembers(ctx, roomID)
	if err != nil {
		return err
	}
	for _, m := range members {
		if !slices.Contains(leavesOnShutdown, m.Membership) {
			continue
		}
		if err := rooms.Leave(ctx, roomID, m.UserID, ""); err != nil {
			slog.WarnContext(ctx, "a local user could not leave a room being deleted", "room_id", roomID, "user_id", m.UserID, "err", err)
			s.deletes.update(t, func(t *roomDelete) { t.result.FailedToKickUsers = append(t.result.FailedToKickUsers, m.UserID) })
			continue
		}
		s.deletes.update(t, func(t *roomDelete) { t.result.KickedUsers = append(t.result.KickedUsers, m.UserID) })
		if err := rooms.Forget(ctx, roomID, m.UserID); err != nil {
			slog.WarnContext(ctx, "forgetting a deleted room failed", "room_id", roomID, "user_id", m.UserID, "err", err)
		}
		if newRoom != "" && m.UserID != req.NewRoomUserID {
			if _, err := rooms.Join(ctx, newRoom, m.UserID, ""); err != nil {
				slog.WarnContext(ctx, "joining the room replacing a deleted one failed", "room_id", newRoom, "user_id", m.UserID, "err", err)
			}
		}
	}

	aliases, err := store.LocalAliases(ctx, roomID)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if err := rooms.DeleteAlias(ctx, a, adminID, true); err != nil && !errors.Is(err, core.ErrNotFound) {
			return err
		}
		if newRoom != "" {
			if err := rooms.CreateAlias(ctx, a, newRoom, req.NewRoomUserID); err != nil {
				slog.WarnContext(ctx, "moving an alias to the room replacing a deleted one failed", "alias", a, "err", err)
				continue
			}
		}
		s.deletes.update(t, func(t *roomDelete) { t.result.LocalAliases = append(t.result.LocalAliases, a) })
	}
	if err := rooms.SetVisibility(ctx, roomID, adminID, true, "private"); err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}

	if req.Purge != nil && !*req.Purge {
		return nil
	}
	if !req.ForcePurge {
		left, err := store.LocalMembers(ctx, roomID)
		if err != nil {
			return err
		}
		for _, m := range left {
			if m.Membership == core.MembershipJoin {
				return core.ErrUnknown.WithStatus(http.StatusBadRequest).WithMessage("Users are still joined to this room")
			}
		}
	}
	if _, err := store.PurgeRoom(ctx, roomID); err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	rooms.ForgetRoom(roomID)
	return nil
}

// createShutdownRoom creates the room a delete moves local users into:
// public, new_room_user_id its admin, users_default -10 so the users moved
// in cannot speak, with the message as its first message.
func (s *Server) createShutdownRoom(ctx context.Context, req deleteRoomRequest) (string, error) {
	name, message := defaultShutdownRoomName, defaultShutdownMessage
	if req.RoomName != nil {
		name = *req.RoomName
	}
	if req.Message != nil {
		message = *req.Message
	}
	newRoom, err := s.opts.Rooms.CreateRoom(ctx, room.CreateRequest{
		Creator: req.NewRoomUserID, Preset: room.PresetPublicChat, Name: &name,
		PowerLevelContentOverride: json.RawMessage(`{"users_default":-10}`),
	})
	if err != nil {
		return "", err
	}
	content, err := json.Marshal(map[string]string{"msgtype": "m.text", "body": message})
	if err != nil {
		return "", err
	}
	if _, err := s.opts.Rooms.Send(ctx, newRoom, room.Proto{Type: "m.room.message", Sender: req.NewRoomUserID, Content: content}, nil); err != nil {
		return "", err
	}
	return newRoom, nil
}

// getAdminRoomDeleteStatus answers GET /_synapse/admin/v2/rooms/{roomId}/
// delete_status and GET /_synapse/admin/v2/rooms/delete_status/{deleteId}.
func (s *Server) getAdminRoomDeleteStatus(w http.ResponseWriter, r *http.Request, sess *core.Session) error {
	first, second := r.PathValue("first"), r.PathValue("second")
	now := s.opts.Now()
	switch {
	case first == "delete_status":
		t := s.deletes.byID(second, now)
		if t == nil {
			return core.ErrNotFound.WithMessage("delete id '%s' not found", second)
		}
		writeJSON(w, http.StatusOK, s.deletes.statusJSON(t))
	case second == "delete_status":
		if _, err := id.ParseRoomID(first); err != nil {
			return core.ErrInvalidParam.WithMessage("%q is not a legal room ID", first)
		}
		tasks := s.deletes.byRoom(first, now)
		if len(tasks) == 0 {
			return core.ErrNotFound.WithMessage("No delete task for room_id '%s' found", first)
		}
		results := make([]map[string]any, len(tasks))
		for i, t := range tasks {
			results[i] = s.deletes.statusJSON(t)
		}
		writeJSON(w, http.StatusOK, map[string]any{"results": results})
	default:
		return core.ErrUnrecognized.WithMessage("Unrecognized request")
	}
	return nil
}
