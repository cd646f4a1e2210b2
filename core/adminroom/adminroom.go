// Package adminroom is the admin room delete workflow, as Synapse's Delete
// Room API does it: the local users leave the room (each one's own leave,
// through the room pipeline) and forget it, its local aliases go (or move
// to a new room the users are moved into), it leaves the room directory,
// it may be blocked, and with purge (the default) every trace of it is
// removed from the database in one write. Deletes run as tasks whose
// status is kept in memory for a day after they end (Synapse: "up to 24
// hours after completion of the task, or until Synapse is restarted").
//
// The package does no I/O of its own: it works through the room pipeline
// and core.AdminRoomStore. Importing it has no side effects.
package adminroom

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/id"
	"hearth.dev/hearth/core/room"
)

// Task states.
const (
	StatusScheduled = "scheduled"
	StatusActive    = "active"
	StatusComplete  = "complete"
	StatusFailed    = "failed"
)

// statusKeep is how long an ended task's status is kept.
const statusKeep = 24 * time.Hour

// Defaults of the new room a delete moves users into.
const (
	DefaultRoomName = "Content Violation Notification"
	DefaultMessage  = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
)

// Request is what a delete does (the body of DELETE /v1 and
// /v2/rooms/{roomId}).
type Request struct {
	// NewRoomUserID, when set, creates a room owned by this local user
	// that the local members are moved into, with RoomName and Message.
	NewRoomUserID string  `json:"new_room_user_id"`
	RoomName      *string `json:"room_name"`
	Message       *string `json:"message"`
	// Block blocks the room from being joined again (also a room the
	// server does not know yet).
	Block bool `json:"block"`
	// Purge (default true) removes the room from the database; ForcePurge
	// does so even when local users could not be made to leave.
	Purge      *bool `json:"purge"`
	ForcePurge bool  `json:"force_purge"`
}

// Result is what shutting a room down did.
type Result struct {
	KickedUsers       []string `json:"kicked_users"`
	FailedToKickUsers []string `json:"failed_to_kick_users"`
	LocalAliases      []string `json:"local_aliases"`
	NewRoomID         *string  `json:"new_room_id"`
}

// clone copies r, so it can be encoded while the task goes on.
func (r Result) clone() Result {
	r.KickedUsers = slices.Clone(r.KickedUsers)
	r.FailedToKickUsers = slices.Clone(r.FailedToKickUsers)
	r.LocalAliases = slices.Clone(r.LocalAliases)
	if r.NewRoomID != nil {
		id := *r.NewRoomID
		r.NewRoomID = &id
	}
	return r
}

// Status is the state of one delete task.
type Status struct {
	DeleteID string `json:"delete_id"`
	RoomID   string `json:"room_id"`
	Status   string `json:"status"`
	// Error says why a failed task failed ("" unless Status is
	// StatusFailed).
	Error  string `json:"error,omitempty"`
	Result Result `json:"shutdown_room"`
}

// task is one delete task; its fields after seq are guarded by
// Service.mu.
type task struct {
	id     string
	roomID string
	seq    int // order of creation
	status string
	errMsg string
	result Result
	ended  time.Time
}

// Config is what a Service works with; all but Now and Logger are
// required.
type Config struct {
	ServerName string
	Rooms      *room.Pipeline
	Store      core.AdminRoomStore
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// Logger receives the failures of single steps that do not stop a
	// delete; nil uses slog.Default().
	Logger *slog.Logger
}

// Service runs room deletes and keeps their tasks.
type Service struct {
	cfg Config

	mu    sync.Mutex
	tasks map[string]*task // by delete ID
	seq   int
	// wg counts the tasks running in the background.
	wg sync.WaitGroup
}

// New returns the delete service of cfg.
func New(cfg Config) (*Service, error) {
	if cfg.ServerName == "" || cfg.Rooms == nil || cfg.Store == nil {
		return nil, errors.New("adminroom: the service needs the server name, the room pipeline and the admin room store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, tasks: map[string]*task{}}, nil
}

// Wait waits for the deletes running in the background to end.
func (s *Service) Wait() { s.wg.Wait() }

// errInProgress answers a second delete of a room while one runs.
func errInProgress(roomID string) error {
	return core.ErrUnknown.WithStatus(400).WithMessage("History purge already in progress for %s", roomID)
}

// Check checks a delete of roomID before it starts: new_room_user_id must
// be a local user, and the room must be known unless it is only to be
// blocked.
func (s *Service) Check(ctx context.Context, roomID string, req Request) error {
	if req.NewRoomUserID != "" {
		uid, err := id.ParseUserID(req.NewRoomUserID)
		if err != nil || string(uid.ServerName()) != s.cfg.ServerName {
			return core.ErrInvalidParam.WithMessage("User must be our own: %s", req.NewRoomUserID)
		}
	}
	if _, err := s.cfg.Store.AdminRoom(ctx, roomID); errors.Is(err, core.ErrNotFound) {
		if !req.Block {
			return core.ErrNotFound.WithMessage("Unknown room id %s", roomID)
		}
	} else if err != nil {
		return err
	}
	return nil
}

// Start checks the delete of roomID asked by adminID, starts it in the
// background and returns its delete ID (DELETE /v2/rooms/{roomId}).
func (s *Service) Start(ctx context.Context, adminID, roomID string, req Request) (string, error) {
	if err := s.Check(ctx, roomID, req); err != nil {
		return "", err
	}
	t := s.start(roomID)
	if t == nil {
		return "", errInProgress(roomID)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The request's context ends with its answer; the delete does not.
		s.run(context.WithoutCancel(ctx), t, adminID, req)
	}()
	return t.id, nil
}

// Delete checks and runs the delete of roomID asked by adminID, and
// returns what it did once it is done (DELETE /v1/rooms/{roomId}).
func (s *Service) Delete(ctx context.Context, adminID, roomID string, req Request) (Result, error) {
	if err := s.Check(ctx, roomID, req); err != nil {
		return Result{}, err
	}
	t := s.start(roomID)
	if t == nil {
		return Result{}, errInProgress(roomID)
	}
	if err := s.run(context.WithoutCancel(ctx), t, adminID, req); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.result.clone(), nil
}

// Status returns the status of the task deleteID; false if it is unknown
// or expired.
func (s *Service) Status(deleteID string) (Status, bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[deleteID]
	if t == nil || s.expired(t, now) {
		return Status{}, false
	}
	return t.statusLocked(), true
}

// RoomStatus returns the statuses of roomID's tasks, oldest first.
func (s *Service) RoomStatus(roomID string) []Status {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []*task
	for _, t := range s.tasks {
		if t.roomID == roomID && !s.expired(t, now) {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, func(a, b *task) int { return a.seq - b.seq })
	out := make([]Status, len(ts))
	for i, t := range ts {
		out[i] = t.statusLocked()
	}
	return out
}

func (s *Service) expired(t *task, now time.Time) bool {
	return !t.ended.IsZero() && now.Sub(t.ended) > statusKeep
}

func (t *task) statusLocked() Status {
	st := Status{DeleteID: t.id, RoomID: t.roomID, Status: t.status, Result: t.result.clone()}
	if t.status == StatusFailed {
		st.Error = t.errMsg
	}
	return st
}

// start records a new task for roomID, or returns nil if one is already
// under way for it. Ended tasks older than statusKeep are dropped.
func (s *Service) start(roomID string) *task {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tasks {
		switch {
		case t.roomID == roomID && (t.status == StatusScheduled || t.status == StatusActive):
			return nil
		case s.expired(t, now):
			delete(s.tasks, k)
		}
	}
	s.seq++
	t := &task{id: rand.Text(), roomID: roomID, seq: s.seq, status: StatusScheduled,
		result: Result{KickedUsers: []string{}, FailedToKickUsers: []string{}, LocalAliases: []string{}}}
	s.tasks[t.id] = t
	return t
}

// update changes a task under the lock.
func (s *Service) update(t *task, f func(t *task)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(t)
}

// run runs task t and records how it ended.
func (s *Service) run(ctx context.Context, t *task, adminID string, req Request) error {
	err := s.shutdown(ctx, t, adminID, req)
	s.update(t, func(t *task) {
		t.ended = s.cfg.Now()
		t.status = StatusComplete
		if err != nil {
			t.status = StatusFailed
			var me *core.Error
			if errors.As(err, &me) {
				t.errMsg = me.Message
			} else {
				t.errMsg = "Internal server error"
			}
		}
	})
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "deleting a room failed", "room_id", t.roomID, "delete_id", t.id, "err", err)
	}
	return err
}
