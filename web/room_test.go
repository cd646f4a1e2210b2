package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/storage"
)

// roomTestServer is the name of the server the room tests run.
const roomTestServer = "hearth.test"

// fakeSessions resolves the access tokens the room tests hand out.
type fakeSessions map[string]*core.Session

func (f fakeSessions) SessionByAccessToken(ctx context.Context, token string) (*core.Session, error) {
	if s, ok := f[token]; ok {
		c := *s
		return &c, nil
	}
	return nil, core.ErrUnknownToken
}

// roomEnv is a whole server on a real database: the client-server API with
// the room pipeline, and the key server, as hearth.Open mounts them.
type roomEnv struct {
	tb       testing.TB
	handler  http.Handler
	db       *storage.DB
	rooms    *room.Pipeline
	sessions fakeSessions
}

// roomTestDBPath returns a fresh database path: a temporary directory on
// the host, a unique name in a browser VFS (HEARTH_TEST_VFS).
func roomTestDBPath(tb testing.TB) (path, vfs string) {
	vfs = os.Getenv("HEARTH_TEST_VFS")
	if vfs != "" {
		b := make([]byte, 8)
		rand.Read(b)
		return "/" + hex.EncodeToString(b) + "-web.db", vfs
	}
	return filepath.Join(tb.TempDir(), "hearth.db"), ""
}

func newRoomEnv(tb testing.TB) *roomEnv {
	tb.Helper()
	ctx := context.Background()
	path, vfs := roomTestDBPath(tb)
	db, err := storage.Open(ctx, storage.Options{Path: path, VFS: vfs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.ClaimServerName(ctx, roomTestServer); err != nil {
		tb.Fatal(err)
	}
	key, err := db.ServerSigningKey(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	events := storage.NewEventStore(db)
	notifier := &core.Notifier{}
	rooms, err := room.New(room.Config{ServerName: roomTestServer, Key: key, Notifier: notifier}, room.Stores{
		Events: events, Timeline: events, State: events, Groups: events, Rooms: events,
		Directory: storage.NewDirectoryStore(db),
	})
	if err != nil {
		tb.Fatal(err)
	}
	env := &roomEnv{tb: tb, db: db, rooms: rooms, sessions: fakeSessions{}}
	client := NewServer(Options{ServerName: roomTestServer, Sessions: env.sessions, Notifier: notifier, Rooms: rooms})
	mux := http.NewServeMux()
	mux.Handle("/_matrix/key/", federation.NewKeyServer(federation.KeyServerOptions{ServerName: roomTestServer, Key: key}))
	mux.Handle("/", client)
	env.handler = mux
	return env
}

// user returns an access token for a new session of @localpart.
func (e *roomEnv) user(localpart string, admin bool) string {
	return e.device(localpart, "DEV_"+localpart, admin)
}

// device returns an access token for @localpart on device deviceID.
func (e *roomEnv) device(localpart, deviceID string, admin bool) string {
	tok := "tok_" + localpart + "_" + deviceID
	e.sessions[tok] = &core.Session{UserID: "@" + localpart + ":" + roomTestServer, DeviceID: deviceID, IsAdmin: admin}
	return tok
}

// response is a decoded answer.
type response struct {
	Status int
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// errcode returns the body's errcode ("" if none).
func (r response) errcode() string {
	var e struct {
		ErrCode string `json:"errcode"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.ErrCode
}

// do sends a request; body is marshalled unless it is a string or nil.
func (e *roomEnv) do(method, path, token string, body any) response {
	e.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.tb.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return response{Status: rec.Code, Body: rec.Body.Bytes()}
}

// must sends a request that must succeed, and decodes its answer into out
// (unless out is nil).
func (e *roomEnv) must(method, path, token string, body, out any) {
	e.tb.Helper()
	r := e.do(method, path, token, body)
	if r.Status != http.StatusOK {
		e.tb.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
	}
	if out != nil {
		r.JSON(e.tb, out)
	}
}

// wantError sends a request that must fail with status and errcode.
func (e *roomEnv) wantError(method, path, token string, body any, status int, errcode string) response {
	e.tb.Helper()
	r := e.do(method, path, token, body)
	if r.Status != status || r.errcode() != errcode {
		e.tb.Fatalf("%s %s: got %d %s, want %d %s", method, path, r.Status, r.Body, status, errcode)
	}
	return r
}

const cs = "/_matrix/client/v3"

// createRoom creates a room and returns its ID.
func (e *roomEnv) createRoom(token string, req map[string]any) string {
	e.tb.Helper()
	var out struct {
		RoomID string `json:"room_id"`
	}
	e.must("POST", cs+"/createRoom", token, req, &out)
	return out.RoomID
}

// send sends a text message and returns its event ID.
func (e *roomEnv) send(token, roomID, txn, body string) string {
	e.tb.Helper()
	var out struct {
		EventID string `json:"event_id"`
	}
	e.must("PUT", cs+"/rooms/"+roomID+"/send/m.room.message/"+txn, token,
		map[string]string{"msgtype": "m.text", "body": body}, &out)
	return out.EventID
}

// clientEvent is the part of a ClientEvent the tests read.
type clientEvent struct {
	Content        map[string]any `json:"content"`
	EventID        string         `json:"event_id"`
	OriginServerTS int64          `json:"origin_server_ts"`
	RoomID         string         `json:"room_id"`
	Sender         string         `json:"sender"`
	StateKey       *string        `json:"state_key"`
	Type           string         `json:"type"`
	Unsigned       struct {
		Age             *int64          `json:"age"`
		TransactionID   string          `json:"transaction_id"`
		ReplacesState   string          `json:"replaces_state"`
		PrevContent     map[string]any  `json:"prev_content"`
		RedactedBecause json.RawMessage `json:"redacted_because"`
	} `json:"unsigned"`
}

// state returns the room's state as the user sees it, keyed by
// "type|state_key".
func (e *roomEnv) state(token, roomID string) map[string]clientEvent {
	e.tb.Helper()
	var evs []clientEvent
	e.must("GET", cs+"/rooms/"+roomID+"/state", token, nil, &evs)
	out := map[string]clientEvent{}
	for _, ev := range evs {
		if ev.StateKey == nil {
			e.tb.Fatalf("GET /state returned a non-state event %s", ev.EventID)
		}
		out[ev.Type+"|"+*ev.StateKey] = ev
	}
	return out
}

// adminView is GET /_hearth/admin/v1/events/{eventId}.
type adminView struct {
	PDU            json.RawMessage `json:"pdu"`
	RoomVersion    string          `json:"room_version"`
	StreamOrdering int64           `json:"stream_ordering"`
	Depth          int64           `json:"depth"`
	Outlier        bool            `json:"outlier"`
	StateGroup     int64           `json:"state_group"`
	Rejected       *string         `json:"rejected"`
}

func (e *roomEnv) admin(adminToken, eventID string) adminView {
	e.tb.Helper()
	var v adminView
	e.must("GET", "/_hearth/admin/v1/events/"+url.PathEscape(eventID), adminToken, nil, &v)
	return v
}
