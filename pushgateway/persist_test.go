package pushgateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/push"
	"hearth.dev/hearth/storage"
)

// recordingDeliverer records the events it is handed notifications of.
type recordingDeliverer struct {
	mu    sync.Mutex
	calls []delivered
}

type delivered struct {
	RoomID string
	Event  map[string]any
	Room   push.RoomContext
	Users  []string
}

func (h *recordingDeliverer) Deliver(ctx context.Context, notes []push.Notification) error {
	var ev map[string]any
	if err := json.Unmarshal(notes[0].Event, &ev); err != nil {
		return err
	}
	var users []string
	for _, n := range notes {
		users = append(users, n.UserID)
	}
	slices.Sort(users)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, delivered{notes[0].RoomID, ev, notes[0].Room, users})
	return nil
}

// persistPath builds the event-persisting path as hearth.Open does: the
// events of r go through the push rules of its local members into the
// notification store, and on to d.
func persistPath(t testing.TB, r *pushTestRoom, d push.Deliverer) (core.EventStore, *storage.NotificationStore) {
	t.Helper()
	notes := storage.NewNotificationStore(r.db)
	svc, err := push.NewService(push.Config{ServerName: "example.org", State: core.PushState(r.events, r.events, r.events),
		Rules: storage.NewPushRuleStore(r.db), Deliverer: d})
	if err != nil {
		t.Fatal(err)
	}
	return &core.HookedEventStore{EventStore: r.events, Hooks: []core.PersistHook{core.PushHook{Push: svc, Rooms: r.events, State: r.events, Events: r.events}}}, notes
}

// pushTestRoom is a room of version 11 on a real database: alice (local,
// creator, power 100) and bob (local) and carol (remote) joined; the
// notification level for @room is 20.
type pushTestRoom struct {
	db     *storage.DB
	events *storage.EventStore
	id     string
	group  int64
	depth  int64
	last   string
}

const roomID = "!push:example.org"

func newPushTestRoom(t testing.TB) *pushTestRoom {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{Path: filepath.Join(t.TempDir(), "h.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ClaimServerName(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	r := &pushTestRoom{db: db, events: storage.NewEventStore(db), id: roomID}
	if err := r.events.StoreRoom(ctx, core.RoomInfo{RoomID: roomID, RoomVersion: "11", Creator: "@alice:example.org"}); err != nil {
		t.Fatal(err)
	}
	state := []struct{ typ, key, sender, content string }{
		{"m.room.create", "", "@alice:example.org", `{"room_version":"11"}`},
		{"m.room.member", "@alice:example.org", "@alice:example.org", `{"membership":"join","displayname":"Alice"}`},
		{"m.room.power_levels", "", "@alice:example.org", `{"notifications":{"room":20},"users":{"@alice:example.org":100}}`},
		{"m.room.name", "", "@alice:example.org", `{"name":"Mission Control"}`},
		{"m.room.member", "@bob:example.org", "@bob:example.org", `{"membership":"join","displayname":"Bob"}`},
		{"m.room.member", "@carol:elsewhere.example", "@carol:elsewhere.example", `{"membership":"join","displayname":"Major Tom"}`},
	}
	changes := core.StateMap{}
	var evs []core.NewEvent
	for _, s := range state {
		sk := s.key
		ev := r.event(s.typ, &sk, s.sender, s.content)
		changes[core.StateKey{Type: s.typ, StateKey: s.key}] = ev.EventID
		evs = append(evs, ev)
	}
	g, err := r.events.StoreStateGroup(ctx, roomID, evs[len(evs)-1].EventID, core.StateGroupDelta{Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		evs[i].StateGroup = g
	}
	r.group = g
	if _, err := r.events.PersistEvents(ctx, evs, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{RoomID: roomID, Changes: changes}}}); err != nil {
		t.Fatal(err)
	}
	return r
}

// event builds the next event of the room (federation format of version
// 11, without event_id).
func (r *pushTestRoom) event(typ string, stateKey *string, sender, content string) core.NewEvent {
	r.depth++
	h := sha256.Sum256(fmt.Appendf(nil, "event %d", r.depth))
	id := "$" + base64.RawURLEncoding.EncodeToString(h[:])
	prev := []string{}
	if r.last != "" {
		prev = []string{r.last}
	}
	r.last = id
	sk := ""
	if stateKey != nil {
		q, _ := json.Marshal(*stateKey)
		sk = `"state_key":` + string(q) + `,`
	}
	pj, _ := json.Marshal(prev)
	js := fmt.Sprintf(`{"auth_events":[],"content":%s,"depth":%d,"hashes":{"sha256":"aGFzaA"},"origin_server_ts":%d,"prev_events":%s,"room_id":%q,"sender":%q,"signatures":{},%s"type":%q}`,
		content, r.depth, 1_700_000_000_000+r.depth, pj, roomID, sender, sk, typ)
	ev := core.NewEvent{EventID: id, RoomID: roomID, Type: typ, StateKey: stateKey, Sender: sender, Depth: r.depth,
		OriginServerTS: 1_700_000_000_000 + r.depth, PrevEvents: prev, JSON: []byte(js), FormatVersion: 3,
		StateGroup: r.group, ReceivedTS: 1_700_000_000_000 + r.depth}
	if typ == "m.room.member" {
		var c struct{ Membership string }
		json.Unmarshal([]byte(content), &c)
		ev.Membership = c.Membership
	}
	return ev
}

// TestPersistPath checks what the push step of the event-persisting path
// reads of the room for each live event, and that backfilled events and
// outliers do not go through it.
func TestPersistPath(t *testing.T) {
	ctx := context.Background()
	r := newPushTestRoom(t)
	hook := &recordingDeliverer{}
	s, notes := persistPath(t, r, hook)

	msg := r.event("m.room.message", nil, "@carol:elsewhere.example", `{"body":"hello"}`)
	mine := r.event("m.room.message", nil, "@alice:example.org", `{"body":"@room","m.mentions":{"room":true}}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{msg, mine}, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	old := r.event("m.room.message", nil, "@carol:elsewhere.example", `{"body":"old"}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{old}, core.PersistOptions{Backfilled: true}); err != nil {
		t.Fatal(err)
	}
	out := r.event("m.room.message", nil, "@carol:elsewhere.example", `{"body":"outlier"}`)
	out.Outlier, out.StateGroup = true, 0
	if _, err := s.PersistEvents(ctx, []core.NewEvent{out}, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(hook.calls) != 2 {
		t.Fatalf("deliverer called %d times, want 2 (live events only)", len(hook.calls))
	}
	if want := []string{"@alice:example.org", "@bob:example.org"}; !slices.Equal(hook.calls[0].Users, want) {
		t.Errorf("carol's message notifies %v, want %v", hook.calls[0].Users, want)
	}
	want := push.RoomContext{
		MemberCount: 3,
		Recipients:  map[string]string{"@alice:example.org": "Alice", "@bob:example.org": "Bob"},
		PowerLevels: json.RawMessage(`{"notifications":{"room":20},"users":{"@alice:example.org":100}}`),
		RoomName:    "Mission Control", SenderDisplayName: "Major Tom",
	}
	if diff := cmp.Diff(want, hook.calls[0].Room); diff != "" {
		t.Errorf("room of carol's message (-want +got):\n%s", diff)
	}
	if hook.calls[0].Event["event_id"] != msg.EventID || hook.calls[0].Event["type"] != "m.room.message" {
		t.Errorf("event = %v", hook.calls[0].Event)
	}
	if got := hook.calls[1].Room; got.SenderPowerLevel != 100 || got.SenderDisplayName != "Alice" {
		t.Errorf("alice's message: power %d, name %q", got.SenderPowerLevel, got.SenderDisplayName)
	}

	// An invite of a local user makes them a recipient.
	dave := "@dave:example.org"
	inv := r.event("m.room.member", &dave, "@alice:example.org", `{"membership":"invite"}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{inv}, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := hook.calls[2].Room.Recipients[dave]; !ok || hook.calls[2].Room.MemberCount != 3 || !slices.Equal(hook.calls[2].Users, []string{dave}) {
		t.Errorf("invite room = %+v, notifies %v", hook.calls[2].Room, hook.calls[2].Users)
	}

	// A change of current state (bob leaves) is seen by the next event.
	bobID := "@bob:example.org"
	leave := r.event("m.room.member", &bobID, bobID, `{"membership":"leave"}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{leave}, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
		RoomID: roomID, Changes: core.StateMap{{Type: "m.room.member", StateKey: bobID}: leave.EventID},
	}}}); err != nil {
		t.Fatal(err)
	}
	after := r.event("m.room.message", nil, "@carol:elsewhere.example", `{"body":"bye bob"}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{after}, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	last := hook.calls[len(hook.calls)-1]
	if _, ok := last.Room.Recipients[bobID]; ok || last.Room.MemberCount != 2 || last.Event["event_id"] != after.EventID {
		t.Errorf("after bob left: %+v", last.Room)
	}
	// A batch that changes the state is evaluated in the state it leaves
	// (the rest read from the store): its message sees the new name, and
	// carol, who joins in it, is no recipient (not local).
	empty := ""
	rename := r.event("m.room.name", &empty, "@alice:example.org", `{"name":"Ground Control"}`)
	carol := "@carol:elsewhere.example"
	hi := r.event("m.room.message", nil, carol, `{"body":"renamed"}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{rename, hi}, core.PersistOptions{CurrentState: []core.CurrentStateDelta{{
		RoomID: roomID, Changes: core.StateMap{{Type: "m.room.name"}: rename.EventID},
	}}}); err != nil {
		t.Fatal(err)
	}
	last = hook.calls[len(hook.calls)-1]
	if last.Event["event_id"] != hi.EventID || last.Room.RoomName != "Ground Control" || last.Room.MemberCount != 2 ||
		!slices.Equal(last.Users, []string{"@alice:example.org"}) || last.Room.SenderDisplayName != "Major Tom" {
		t.Errorf("message of the renaming batch: room %+v, notifies %v", last.Room, last.Users)
	}
	if all, _, err := notes.RoomUnread(ctx, "@alice:example.org", roomID); err != nil || all.Notifications == 0 {
		t.Errorf("alice's unread = %+v, %v; want the batch's notifications recorded", all, err)
	}
}

// TestEndToEnd runs a message through the push rules into the unread
// counts and to bob's push gateway.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	r := newPushTestRoom(t)
	pushers := storage.NewPusherStore(r.db)
	g := newGateway(t, gatewayAnswer{200, `{"rejected":[]}`})
	if err := pushers.SetPusher(ctx, core.Pusher{UserID: "@bob:example.org", Kind: "http", AppID: "app", PushKey: "bobkey",
		Data: json.RawMessage(`{"url":"` + g.URL + `/_matrix/push/v1/notify"}`)}, false); err != nil {
		t.Fatal(err)
	}
	counter := storage.NewNotificationStore(r.db)
	d, err := New(Options{Notifications: counter, Pushers: pushers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, notes := persistPath(t, r, d)
	msg := r.event("m.room.message", nil, "@alice:example.org", `{"msgtype":"m.text","body":"@room lunch","m.mentions":{"room":true}}`)
	if _, err := s.PersistEvents(ctx, []core.NewEvent{msg}, core.PersistOptions{}); err != nil {
		t.Fatal(err)
	}
	all, _, err := notes.RoomUnread(ctx, "@bob:example.org", roomID)
	if err != nil || all != (core.UnreadCounts{Notifications: 1, Highlights: 1}) {
		t.Errorf("bob's unread = %+v, %v; want one highlight", all, err)
	}
	if all, _, _ := notes.RoomUnread(ctx, "@alice:example.org", roomID); all.Notifications != 0 {
		t.Errorf("alice's own message counted: %+v", all)
	}
	n := g.next(t)["notification"].(map[string]any)
	if n["event_id"] != msg.EventID || n["room_name"] != "Mission Control" || n["sender_display_name"] != "Alice" ||
		n["prio"] != "high" || n["counts"].(map[string]any)["unread"] != 1.0 {
		t.Errorf("notification = %v", n)
	}
}
