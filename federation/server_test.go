package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/core/signing"
)

type fakeTyping struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeTyping) SetTyping(ctx context.Context, roomID, userID string, typing bool, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %v", roomID, userID, typing))
	return nil
}

type fakePDUs struct {
	calls int
	errs  map[string]error
}

func (f *fakePDUs) ReceivePDUs(ctx context.Context, origin string, pdus []json.RawMessage) map[string]error {
	f.calls++
	return f.errs
}

// fedPair is origin a.test (publishing its keys) and destination b.test
// (the federation server under test), on loopback HTTP.
type fedPair struct {
	lb     *loopback
	a, b   *testNode
	typing *fakeTyping
	txns   *memTxnStore
}

func newFedPair(t *testing.T, pdus core.PDUReceiver) *fedPair {
	t.Helper()
	p := &fedPair{lb: &loopback{}, typing: &fakeTyping{}, txns: &memTxnStore{}}
	p.a = newTestNode(t, p.lb, "a.test")
	p.b = newTestNode(t, p.lb, "b.test")
	srv, err := NewServer(ServerOptions{
		ServerName: "b.test", Version: "test", KeyRing: p.b.ring, Keys: p.b.keys, Txns: p.txns, PDUs: pdus,
		EDUs: EDUServices{Typing: p.typing, IsJoined: func(ctx context.Context, userID, roomID string) (bool, error) {
			return roomID == "!joined:b.test", nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	aSrv, err := NewServer(ServerOptions{ServerName: "a.test", Version: "test", KeyRing: p.a.ring, Keys: p.a.keys, Txns: &memTxnStore{}})
	if err != nil {
		t.Fatal(err)
	}
	p.lb.add(t, "a.test", aSrv)
	p.lb.add(t, "b.test", srv)
	return p
}

func typingEDU(roomID, userID string) EDU {
	c, _ := json.Marshal(map[string]any{"room_id": roomID, "user_id": userID, "typing": true})
	return EDU{Type: EDUTyping, Content: c}
}

func TestSendTransaction(t *testing.T) {
	ctx := context.Background()
	p := newFedPair(t, nil)
	txn := Transaction{Origin: "a.test", OriginServerTS: 1, PDUs: []json.RawMessage{}, EDUs: []EDU{
		typingEDU("!joined:b.test", "@u:a.test"),
		typingEDU("!other:b.test", "@u:a.test"),     // not joined: dropped
		typingEDU("!joined:b.test", "@u:evil.test"), // not the origin's user: dropped
	}}
	var got map[string]any
	if err := p.a.client.Request(ctx, "b.test", "PUT", "/_matrix/federation/v1/send/t1", txn, &got); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got); string(b) != `{"pdus":{}}` {
		t.Errorf("answer %s, want {\"pdus\":{}}", b)
	}
	if want := []string{"!joined:b.test @u:a.test true"}; fmt.Sprint(p.typing.calls) != fmt.Sprint(want) {
		t.Errorf("typing calls %v, want %v", p.typing.calls, want)
	}
	// The same transaction again: the answer is replayed, nothing applied.
	if err := p.a.client.Request(ctx, "b.test", "PUT", "/_matrix/federation/v1/send/t1", txn, &got); err != nil {
		t.Fatal(err)
	}
	if len(p.typing.calls) != 1 {
		t.Errorf("the replayed transaction was applied again: %v", p.typing.calls)
	}
	// b fetched a's key once and cached it.
	if _, err := p.b.store.RemoteServerKey(ctx, "a.test", p.a.key.ID); err != nil {
		t.Errorf("a's key not cached: %v", err)
	}
	// Limits: 51 PDUs or 101 EDUs are refused.
	many := Transaction{PDUs: make([]json.RawMessage, 51)}
	for i := range many.PDUs {
		many.PDUs[i] = json.RawMessage(`{}`)
	}
	expectStatus(t, p.a.client.Request(ctx, "b.test", "PUT", "/_matrix/federation/v1/send/t2", many, nil), 400, "M_BAD_JSON")
	expectStatus(t, p.a.client.Request(ctx, "b.test", "PUT", "/_matrix/federation/v1/send/t3", Transaction{EDUs: make([]EDU, 101)}, nil), 400, "M_BAD_JSON")
	// PDUs without a PDU layer: 503, and nothing stored, so a retry later
	// is processed.
	one := Transaction{PDUs: []json.RawMessage{json.RawMessage(`{"type":"m.room.message"}`)}}
	expectStatus(t, p.a.client.Request(ctx, "b.test", "PUT", "/_matrix/federation/v1/send/t4", one, nil), 503, "M_UNAVAILABLE")
	if _, err := p.txns.FederationTxnResponse(ctx, "a.test", "t4"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a refused transaction was stored: %v", err)
	}
	// A body naming another origin than the signer.
	expectStatus(t, p.a.client.Request(ctx, "b.test", "PUT", "/_matrix/federation/v1/send/t5", Transaction{Origin: "c.test"}, nil), 403, "M_FORBIDDEN")
}

func TestSendTransactionPDUResults(t *testing.T) {
	pdus := &fakePDUs{errs: map[string]error{
		"$bad":      core.ErrForbidden.WithMessage("auth failed"),
		"$internal": errors.New("disk on fire"),
		"$soft":     fmt.Errorf("%w: not allowed by the current state", room.ErrPDUSoftFailed),
		// The PDU layer's key for a PDU without an event ID (one of a
		// room this server is not in): not an event ID, so not answered.
		"#1": fmt.Errorf("%w: the server is not in room %q", room.ErrPDUInvalid, "!elsewhere:c.test"),
	}}
	p := newFedPair(t, pdus)
	txn := Transaction{PDUs: []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"b":2}`)}}
	var got struct {
		PDUs map[string]struct {
			Error string `json:"error"`
		} `json:"pdus"`
	}
	if err := p.a.client.Request(context.Background(), "b.test", "PUT", "/_matrix/federation/v1/send/x", txn, &got); err != nil {
		t.Fatal(err)
	}
	if got.PDUs["$bad"].Error != "M_FORBIDDEN: auth failed" || got.PDUs["$internal"].Error != "the event could not be processed" ||
		got.PDUs["$soft"].Error != "PDU soft-failed: not allowed by the current state" || len(got.PDUs) != 3 {
		t.Errorf("results %+v", got.PDUs)
	}
	if pdus.calls != 1 {
		t.Errorf("PDU layer called %d times, want 1", pdus.calls)
	}
}

func expectStatus(t *testing.T, err error, status int, errcode string) {
	t.Helper()
	var re *RemoteError
	if !errors.As(err, &re) || re.Status != status || re.ErrCode != errcode {
		t.Errorf("got %v, want %d %s", err, status, errcode)
	}
}

// rawSigned sends a request to b.test with a hand-made authorization.
func (p *fedPair) raw(t *testing.T, method, path string, body []byte, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, FederationScheme+"://b.test"+path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := p.lb.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrCode string `json:"errcode"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.ErrCode
}

func TestRequestAuthentication(t *testing.T) {
	p := newFedPair(t, nil)
	path := "/_matrix/federation/v1/send/auth"
	body := []byte(`{"edus":[]}`)
	sign := func(origin, dest string, key signing.Key, method, uri string, content []byte) string {
		x, err := SignRequest(origin, dest, key, method, uri, content)
		if err != nil {
			t.Fatal(err)
		}
		return x.String()
	}
	good := sign("a.test", "b.test", p.a.key, "PUT", path, body)
	if code, _ := p.raw(t, "PUT", path, body, good); code != 200 {
		t.Fatalf("a good request: %d", code)
	}
	// Without destination (servers before v1.3) it still verifies.
	x, _ := ParseXMatrix(sign("a.test", "b.test", p.a.key, "PUT", path, body))
	x.Destination = ""
	if code, _ := p.raw(t, "PUT", path, body, x.String()); code != 200 {
		t.Errorf("no destination parameter: %d", code)
	}
	forger, _ := signing.GenerateKey("k1") // same key ID, other key
	for _, tt := range []struct {
		name    string
		auth    string
		body    []byte
		status  int
		errcode string
	}{
		{"no authorization", "", body, 401, "M_UNAUTHORIZED"},
		{"bearer", "Bearer abc", body, 401, "M_UNAUTHORIZED"},
		{"malformed", "X-Matrix origin=a.test", body, 401, "M_UNAUTHORIZED"},
		{"other destination", sign("a.test", "c.test", p.a.key, "PUT", path, body), body, 401, "M_UNAUTHORIZED"},
		{"forged key", sign("a.test", "b.test", forger, "PUT", path, body), body, 401, "M_UNAUTHORIZED"},
		{"unknown key ID", strings.Replace(good, "ed25519:k1", "ed25519:k9", 1), body, 401, "M_UNAUTHORIZED"},
		{"other body", good, []byte(`{"edus":[],"x":1}`), 401, "M_UNAUTHORIZED"},
		{"other path", sign("a.test", "b.test", p.a.key, "PUT", path+"x", body), body, 401, "M_UNAUTHORIZED"},
		{"unreachable origin", sign("z.test", "b.test", p.a.key, "PUT", path, body), body, 401, "M_UNAUTHORIZED"},
		{"invalid origin", sign("a test", "b.test", p.a.key, "PUT", path, body), body, 401, "M_UNAUTHORIZED"},
		{"not JSON", sign("a.test", "b.test", p.a.key, "PUT", path, body), []byte(`{"edus":`), 400, "M_NOT_JSON"},
		{"too large", good, bytes.Repeat([]byte(" "), MaxRequestBody+1), 413, "M_TOO_LARGE"},
	} {
		if code, errcode := p.raw(t, "PUT", path, tt.body, tt.auth); code != tt.status || errcode != tt.errcode {
			t.Errorf("%s: %d %s, want %d %s", tt.name, code, errcode, tt.status, tt.errcode)
		}
	}
}

func TestVersionAndUnknownPaths(t *testing.T) {
	p := newFedPair(t, nil)
	var v struct {
		Server struct{ Name, Version string } `json:"server"`
	}
	if err := p.a.client.Request(context.Background(), "b.test", "GET", "/_matrix/federation/v1/version", nil, &v); err != nil {
		t.Fatal(err)
	}
	if v.Server.Name != "hearth" || v.Server.Version != "test" {
		t.Errorf("version %+v", v)
	}
	if code, errcode := p.raw(t, "GET", "/_matrix/federation/v1/nothing", nil, ""); code != 404 || errcode != "M_UNRECOGNIZED" {
		t.Errorf("unknown path: %d %s", code, errcode)
	}
}

func TestOriginConcurrencyLimit(t *testing.T) {
	var l originLimits
	l.max = 2
	r1, ok1 := l.acquire("a")
	_, ok2 := l.acquire("a")
	_, ok3 := l.acquire("a")
	_, okB := l.acquire("b")
	if !ok1 || !ok2 || ok3 || !okB {
		t.Fatalf("acquire: %v %v %v %v; want true true false true", ok1, ok2, ok3, okB)
	}
	r1()
	if _, ok := l.acquire("a"); !ok {
		t.Error("a slot released is not free again")
	}
}
