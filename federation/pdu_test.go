package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"hearth.dev/hearth/core"
)

// recordingPDUs is a PDUService that records the arguments it got and
// answers with fixed values.
type recordingPDUs struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingPDUs) rec(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

var testPDU = json.RawMessage(`{"type":"m.room.message"}`)

func (r *recordingPDUs) ServeEvent(_ context.Context, origin, eventID string) (json.RawMessage, error) {
	r.rec("event %s %s", origin, eventID)
	if eventID == "$missing" {
		return nil, core.ErrNotFound.WithMessage("event not found")
	}
	return testPDU, nil
}

func (r *recordingPDUs) ServeStateIDs(_ context.Context, origin, roomID, eventID string) ([]string, []string, error) {
	r.rec("state_ids %s %s %s", origin, roomID, eventID)
	return []string{"$s"}, nil, nil
}

func (r *recordingPDUs) ServeState(_ context.Context, origin, roomID, eventID string) ([]json.RawMessage, []json.RawMessage, error) {
	r.rec("state %s %s %s", origin, roomID, eventID)
	return []json.RawMessage{testPDU}, nil, nil
}

func (r *recordingPDUs) ServeEventAuth(_ context.Context, origin, roomID, eventID string) ([]json.RawMessage, error) {
	r.rec("event_auth %s %s %s", origin, roomID, eventID)
	return nil, core.ErrForbidden.WithMessage("the room's server ACL denies your server")
}

func (r *recordingPDUs) ServeBackfill(_ context.Context, origin, roomID string, from []string, limit int) ([]json.RawMessage, error) {
	r.rec("backfill %s %s %v %d", origin, roomID, from, limit)
	return []json.RawMessage{testPDU}, nil
}

func (r *recordingPDUs) ServeMissingEvents(_ context.Context, origin, roomID string, earliest, latest []string, limit int, minDepth int64) ([]json.RawMessage, error) {
	r.rec("missing %s %s %v %v %d %d", origin, roomID, earliest, latest, limit, minDepth)
	return nil, nil
}

func (r *recordingPDUs) ServeTimestampToEvent(_ context.Context, origin, roomID string, ts int64, dir core.Direction) (string, int64, error) {
	r.rec("timestamp %s %s %d %d", origin, roomID, ts, dir)
	return "$t", ts - 1, nil
}

// The PDU layer's routes parse their parameters, hand them to the
// service with the authenticated origin, and write its answers and errors.
func TestPDURoutes(t *testing.T) {
	ctx := context.Background()
	lb := &loopback{}
	a := newTestNode(t, lb, "a.test")
	b := newTestNode(t, lb, "b.test")
	svc := &recordingPDUs{}
	srv, err := NewServer(ServerOptions{ServerName: "b.test", Version: "test", KeyRing: b.ring, Keys: b.keys, Txns: &memTxnStore{}, PDUServe: svc})
	if err != nil {
		t.Fatal(err)
	}
	aSrv, err := NewServer(ServerOptions{ServerName: "a.test", Version: "test", KeyRing: a.ring, Keys: a.keys, Txns: &memTxnStore{}})
	if err != nil {
		t.Fatal(err)
	}
	lb.add(t, "a.test", aSrv)
	lb.add(t, "b.test", srv)
	room := url.PathEscape("!r:b.test")
	get := func(path string, out any) error { return a.client.Request(ctx, "b.test", "GET", path, nil, out) }

	var evResp struct {
		Origin string            `json:"origin"`
		PDUs   []json.RawMessage `json:"pdus"`
	}
	if err := get("/_matrix/federation/v1/event/"+url.PathEscape("$e"), &evResp); err != nil {
		t.Fatal(err)
	}
	if evResp.Origin != "b.test" || len(evResp.PDUs) != 1 || string(evResp.PDUs[0]) != string(testPDU) {
		t.Fatalf("/event answer %+v", evResp)
	}
	expectStatus(t, get("/_matrix/federation/v1/event/"+url.PathEscape("$missing"), nil), 404, "M_NOT_FOUND")

	var ids struct {
		PDUIDs       []string `json:"pdu_ids"`
		AuthChainIDs []string `json:"auth_chain_ids"`
	}
	if err := get("/_matrix/federation/v1/state_ids/"+room+"?event_id="+url.QueryEscape("$e"), &ids); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids.PDUIDs) != "[$s]" || ids.AuthChainIDs == nil {
		t.Fatalf("/state_ids answer %+v (auth_chain_ids must be a list)", ids)
	}
	expectStatus(t, get("/_matrix/federation/v1/state_ids/"+room, nil), 400, "M_MISSING_PARAM")
	var st map[string][]json.RawMessage
	if err := get("/_matrix/federation/v1/state/"+room+"?event_id="+url.QueryEscape("$e"), &st); err != nil {
		t.Fatal(err)
	}
	if len(st["pdus"]) != 1 || st["auth_chain"] == nil {
		t.Fatalf("/state answer %v", st)
	}
	expectStatus(t, get("/_matrix/federation/v1/event_auth/"+room+"/"+url.PathEscape("$e"), nil), 403, "M_FORBIDDEN")
	if err := get("/_matrix/federation/v1/backfill/"+room+"?v="+url.QueryEscape("$x")+"&v="+url.QueryEscape("$y")+"&limit=5", &evResp); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, get("/_matrix/federation/v1/backfill/"+room+"?limit=5", nil), 400, "M_MISSING_PARAM")
	expectStatus(t, get("/_matrix/federation/v1/backfill/"+room+"?v=x&limit=many", nil), 400, "M_INVALID_PARAM")
	var missing map[string][]json.RawMessage
	body := map[string]any{"earliest_events": []string{"$a"}, "latest_events": []string{"$b"}, "limit": 7, "min_depth": 3}
	if err := a.client.Request(ctx, "b.test", "POST", "/_matrix/federation/v1/get_missing_events/"+room, body, &missing); err != nil {
		t.Fatal(err)
	}
	if missing["events"] == nil {
		t.Fatalf("/get_missing_events answer %v (events must be a list)", missing)
	}
	expectStatus(t, a.client.Request(ctx, "b.test", "POST", "/_matrix/federation/v1/get_missing_events/"+room, map[string]any{}, nil), 400, "M_BAD_JSON")
	var ts struct {
		EventID        string `json:"event_id"`
		OriginServerTS int64  `json:"origin_server_ts"`
	}
	if err := get("/_matrix/federation/v1/timestamp_to_event/"+room+"?dir=b&ts=100", &ts); err != nil {
		t.Fatal(err)
	}
	if ts.EventID != "$t" || ts.OriginServerTS != 99 {
		t.Fatalf("/timestamp_to_event answer %+v", ts)
	}
	expectStatus(t, get("/_matrix/federation/v1/timestamp_to_event/"+room+"?dir=x&ts=100", nil), 400, "M_INVALID_PARAM")

	want := []string{
		"event a.test $e", "event a.test $missing",
		"state_ids a.test !r:b.test $e", "state a.test !r:b.test $e", "event_auth a.test !r:b.test $e",
		"backfill a.test !r:b.test [$x $y] 5",
		"missing a.test !r:b.test [$a] [$b] 7 3",
		"timestamp a.test !r:b.test 100 0",
	}
	if fmt.Sprint(svc.calls) != fmt.Sprint(want) {
		t.Fatalf("service calls:\n%v\nwant:\n%v", svc.calls, want)
	}
}
