package pushgateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
)

// fakeNotifications counts two unread notifications for everyone.
type fakeNotifications struct{}

func (f *fakeNotifications) UnreadTotal(ctx context.Context, userID string) (int64, error) {
	return 2, nil
}

func (f *fakeNotifications) Notifications(ctx context.Context, userID string, from int64, limit int, only string) ([]core.Notification, int64, error) {
	return nil, 0, nil
}

// fakePushers is a pusher store keyed by user.
type fakePushers struct {
	mu      sync.Mutex
	m       map[string][]core.Pusher
	deleted chan string
}

func (f *fakePushers) Pushers(ctx context.Context, userID string) ([]core.Pusher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.Pusher{}, f.m[userID]...), nil
}

func (f *fakePushers) SetPusher(ctx context.Context, p core.Pusher, appendOthers bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[p.UserID] = append(f.m[p.UserID], p)
	return nil
}

func (f *fakePushers) DeletePusher(ctx context.Context, userID, appID, pushKey string) error {
	f.mu.Lock()
	var keep []core.Pusher
	for _, p := range f.m[userID] {
		if p.AppID != appID || p.PushKey != pushKey {
			keep = append(keep, p)
		}
	}
	f.m[userID] = keep
	f.mu.Unlock()
	if f.deleted != nil {
		f.deleted <- pushKey
	}
	return nil
}

// gateway is a push gateway on 127.0.0.1 that records requests and answers
// with the next status and body of its script (the last one repeats).
type gateway struct {
	*httptest.Server
	mu       sync.Mutex
	script   []gatewayAnswer
	requests chan map[string]any
}

type gatewayAnswer struct {
	status int
	body   string
}

func newGateway(t *testing.T, script ...gatewayAnswer) *gateway {
	g := &gateway{script: script, requests: make(chan map[string]any, 16)}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if r.Method != http.MethodPost || r.URL.Path != "/_matrix/push/v1/notify" || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil {
			t.Errorf("gateway got %s %s %q %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"), b)
		}
		g.mu.Lock()
		a := g.script[0]
		if len(g.script) > 1 {
			g.script = g.script[1:]
		}
		g.mu.Unlock()
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		g.requests <- body
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case b := <-g.requests:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the gateway")
		return nil
	}
}

const (
	alice = "@alice:example.org"
	event = `{"event_id":"$e1","room_id":"!r:example.org","type":"m.room.message","sender":"@bob:example.org","content":{"msgtype":"m.text","body":"I'm floating"}}`
)

func setup(t *testing.T, g *gateway, attempts int) (*Dispatcher, *fakePushers) {
	t.Helper()
	notes := &fakeNotifications{}
	url := g.URL + "/_matrix/push/v1/notify"
	pushers := &fakePushers{m: map[string][]core.Pusher{alice: {
		{UserID: alice, Kind: "http", AppID: "org.example.full", PushKey: "k1", PushKeyTS: 12_345_678_000,
			Data: json.RawMessage(`{"url":"` + url + `","custom":"x"}`)},
		{UserID: alice, Kind: "http", AppID: "org.example.ids", PushKey: "k2", PushKeyTS: 1000,
			Data: json.RawMessage(`{"url":"` + url + `","format":"event_id_only"}`)},
		{UserID: alice, Kind: "email", AppID: "m.email", PushKey: "a@example.org", Data: json.RawMessage(`{}`)},
	}}, deleted: make(chan string, 4)}
	d, err := New(Options{Notifications: notes, Pushers: pushers, Logger: slog.New(slog.DiscardHandler),
		Attempts: attempts, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, pushers
}

// deliver hands d alice's notification of event in room.
func deliver(t *testing.T, d *Dispatcher, room push.RoomContext) {
	t.Helper()
	n := push.Notification{UserID: alice, RoomID: "!r:example.org", EventID: "$e1", Event: []byte(event), Room: room,
		Actions: push.ParseActions([]json.RawMessage{json.RawMessage(`"notify"`), json.RawMessage(`{"set_tweak":"sound","value":"bing"}`)})}
	if err := d.Deliver(context.Background(), []push.Notification{n}); err != nil {
		t.Fatal(err)
	}
}

func TestDelivery(t *testing.T) {
	g := newGateway(t, gatewayAnswer{200, `{"rejected":[]}`})
	d, _ := setup(t, g, 3)
	deliver(t, d, push.RoomContext{MemberCount: 3, SenderDisplayName: "Major Tom", RoomName: "Mission Control"})
	got := map[string]any{}
	for range 2 {
		b := g.next(t)
		n := b["notification"].(map[string]any)
		dev := n["devices"].([]any)[0].(map[string]any)
		got[dev["pushkey"].(string)] = n
	}
	want := map[string]any{
		"k1": map[string]any{
			"event_id": "$e1", "room_id": "!r:example.org", "type": "m.room.message", "sender": "@bob:example.org",
			"sender_display_name": "Major Tom", "room_name": "Mission Control", "prio": "high",
			"content": map[string]any{"msgtype": "m.text", "body": "I'm floating"},
			"counts":  map[string]any{"unread": 2.0},
			"devices": []any{map[string]any{"app_id": "org.example.full", "pushkey": "k1", "pushkey_ts": 12345678.0,
				"data": map[string]any{"custom": "x"}, "tweaks": map[string]any{"sound": "bing"}}},
		},
		"k2": map[string]any{
			"event_id": "$e1", "room_id": "!r:example.org",
			"counts": map[string]any{"unread": 2.0},
			"devices": []any{map[string]any{"app_id": "org.example.ids", "pushkey": "k2", "pushkey_ts": 1.0,
				"data": map[string]any{"format": "event_id_only"}, "tweaks": map[string]any{"sound": "bing"}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}

func TestRejectedPushkeyDeletesPusher(t *testing.T) {
	g := newGateway(t, gatewayAnswer{200, `{"rejected":["k1","k2"]}`})
	d, pushers := setup(t, g, 3)
	deliver(t, d, push.RoomContext{})
	deleted := map[string]bool{}
	for range 2 {
		select {
		case k := <-pushers.deleted:
			deleted[k] = true
		case <-time.After(10 * time.Second):
			t.Fatal("rejected pusher not deleted")
		}
	}
	if !deleted["k1"] || !deleted["k2"] {
		t.Errorf("deleted %v", deleted)
	}
	left, _ := pushers.Pushers(context.Background(), alice)
	if len(left) != 1 || left[0].Kind != "email" {
		t.Errorf("pushers left = %+v", left)
	}
}

func TestRetryThenGiveUp(t *testing.T) {
	// One pusher only: the retries of one request are counted.
	g := newGateway(t, gatewayAnswer{500, ``}, gatewayAnswer{502, ``}, gatewayAnswer{200, `{}`})
	d, pushers := setup(t, g, 5)
	pushers.m[alice] = pushers.m[alice][:1]
	deliver(t, d, push.RoomContext{})
	for range 3 {
		g.next(t) // 500, 502, then 200
	}

	g2 := newGateway(t, gatewayAnswer{503, ``})
	d2, pushers2 := setup(t, g2, 3)
	pushers2.m[alice] = pushers2.m[alice][:1]
	deliver(t, d2, push.RoomContext{})
	for range 3 {
		g2.next(t)
	}
	d2.Close()
	select {
	case b := <-g2.requests:
		t.Errorf("a fourth attempt was made: %v", b)
	default:
	}
	if left, _ := pushers2.Pushers(context.Background(), alice); len(left) != 1 {
		t.Errorf("a failing gateway must not delete the pusher: %+v", left)
	}
	_ = d
}

func TestNewNeedsStores(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without stores succeeded")
	}
}
