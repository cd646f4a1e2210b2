package slidingsync

// Connections and positions. A connection is (user, device, conn_id); a
// position names the connection's state after one response: the stream
// positions it reached, the rooms it sent and with what configuration,
// the sticky parameters and the bump stamps it computed. They are kept in
// memory: hearth serves one user, and a restart or an idle connection
// only costs the client one M_UNKNOWN_POS and a fresh start, as MSC4186
// allows.

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/clientsync"
)

// ErrUnknownPos is the error for a position the server does not know (any
// more): the client starts again without one.
var ErrUnknownPos = &core.Error{ErrCode: "M_UNKNOWN_POS", Status: 400, Message: "Unknown or expired position; start again without pos"}

const (
	// connIdle is how long a connection nobody uses is kept.
	connIdle = 30 * time.Minute
	// keptPositions is how many of a connection's newest positions stay
	// usable (a client may retry a request whose response it lost).
	keptPositions = 3
	// maxConns bounds the connections kept at once; the least recently
	// used goes first.
	maxConns = 64
)

// sentRoom is what a connection has sent of a room.
type sentRoom struct {
	// config is the fingerprint of the room configuration it was sent
	// with (a change sends the room afresh).
	config string
	// membership is the membership it was sent with.
	membership string
}

// listState is what a connection sent of a list.
type listState struct {
	count int
	ids   string // the window's room IDs, joined
}

// connState is a connection's state at one position. It is never changed
// once stored: the next position gets a copy.
type connState struct {
	token clientsync.Token
	rooms map[string]sentRoom
	lists map[string]listState
	// bump holds the bump stamp of every room of the account as of
	// token.Events (nil before the first response).
	bump map[string]int64
	// memberships are the account's memberships as of token.Events.
	memberships []core.RoomMembership
	// The sticky parameters.
	listParams map[string]*List
	subParams  map[string]*RoomConfig
	ext        *Extensions
}

type conn struct {
	used      time.Time
	next      int64
	positions map[int64]*connState
}

// connStore holds the connections.
type connStore struct {
	mu    sync.Mutex
	epoch string
	conns map[string]*conn
}

func newConnStore() *connStore {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &connStore{epoch: hex.EncodeToString(b), conns: map[string]*conn{}}
}

func connKey(v clientsync.Viewer, connID string) string {
	return v.UserID + "\x00" + v.DeviceID + "\x00" + connID
}

// load returns the state at pos of the connection ("" for a new one:
// an empty state). A position of another process, an expired connection
// or a dropped position is ErrUnknownPos.
func (cs *connStore) load(key, pos string, now time.Time) (*connState, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.expire(now)
	if pos == "" {
		return &connState{}, nil
	}
	epoch, n, ok := strings.Cut(pos, ".")
	num, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || epoch != cs.epoch {
		return nil, ErrUnknownPos
	}
	c := cs.conns[key]
	if c == nil {
		return nil, ErrUnknownPos
	}
	st := c.positions[num]
	if st == nil {
		return nil, ErrUnknownPos
	}
	c.used = now
	return st, nil
}

// save stores st as the connection's next position and returns its pos.
// A request without pos (fresh) replaces the connection's positions.
func (cs *connStore) save(key string, fresh bool, st *connState, now time.Time) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.conns[key]
	if c == nil || fresh {
		if c == nil && len(cs.conns) >= maxConns {
			cs.evictOldest()
		}
		next := int64(1)
		if c != nil {
			next = c.next
		}
		c = &conn{positions: map[int64]*connState{}, next: next}
		cs.conns[key] = c
	}
	c.used = now
	num := c.next
	c.next++
	c.positions[num] = st
	delete(c.positions, num-keptPositions)
	return cs.epoch + "." + strconv.FormatInt(num, 10)
}

// expire drops the connections idle for connIdle.
func (cs *connStore) expire(now time.Time) {
	for k, c := range cs.conns {
		if now.Sub(c.used) > connIdle {
			delete(cs.conns, k)
		}
	}
}

func (cs *connStore) evictOldest() {
	var oldest string
	var at time.Time
	for k, c := range cs.conns {
		if oldest == "" || c.used.Before(at) {
			oldest, at = k, c.used
		}
	}
	delete(cs.conns, oldest)
}

// parseCount reads a non-negative decimal position.
func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}
