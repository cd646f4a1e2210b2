package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/internal/hearthtest"
	"hearth.dev/hearth/services"
	"hearth.dev/hearth/storage"
)

// roomTestServer is the name of the server the room tests run.
const roomTestServer = "hearth.test"

// roomEnv is a whole server on a real database: the client-server API with
// the room pipeline, and the key server, as hearth.Open mounts them.
type roomEnv struct {
	tb      testing.TB
	handler http.Handler
	g       *services.Graph
	srv     *Server
	net     *loopback
	db      *storage.DB
	rooms   *room.Pipeline
}

// newRoomEnv builds the server for roomTestServer through the production
// wiring: the graph of hearthtest.Open, the client-server API on it, and
// the key server beside it as hearth.Open mounts them.
func newRoomEnv(tb testing.TB) *roomEnv {
	tb.Helper()
	g := hearthtest.Open(tb, func(c *services.Config) { c.Client.ServerName = roomTestServer })
	env := &roomEnv{tb: tb, g: g, db: g.DB, rooms: g.Rooms}
	mux := http.NewServeMux()
	mux.Handle("/_matrix/key/", federation.NewKeyServer(federation.KeyServerOptions{ServerName: roomTestServer, Key: g.Key}))
	env.srv = mustNewServer(tb, Options{Services: g.Client})
	mux.Handle("/", env.srv)
	env.handler = mux
	env.net = newLoopback(tb, func() http.Handler { return env.handler })
	return env
}

// user returns an access token for a new session of @localpart.
func (e *roomEnv) user(localpart string, admin bool) string {
	return e.device(localpart, "DEV_"+localpart, admin)
}

// device returns an access token for @localpart on device deviceID,
// making the account if needed.
func (e *roomEnv) device(localpart, deviceID string, admin bool) string {
	return hearthtest.CreateUser(e.tb, e.g, localpart, admin, deviceID).AccessToken
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
	rec := e.net.do(e.tb, req)
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
