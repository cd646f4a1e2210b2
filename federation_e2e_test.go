package hearth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hearth.dev/hearth/storage"
)

// fedNet routes the outbound federation of test homeservers to their
// federation handlers, served over HTTP on loopback; a server can be cut
// off (its requests fail both ways, as in a network partition).
type fedNet struct {
	mu    sync.Mutex
	hosts map[string]string // server name -> http://127.0.0.1:port
	down  map[string]bool
	// configure, when set, changes a server's configuration before it opens.
	configure func(name string, cfg *Config)
}

var errPartitioned = errors.New("fednet: partitioned")

func (n *fedNet) RoundTrip(req *http.Request) (*http.Response, error) {
	n.mu.Lock()
	base, ok := n.hosts[req.URL.Host]
	cut := n.down[req.URL.Host]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("fednet: %s is unreachable", req.URL.Host)
	}
	if cut {
		return nil, errPartitioned
	}
	u, _ := url.Parse(base)
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, req.URL.Host
	return http.DefaultTransport.RoundTrip(r)
}

func (n *fedNet) setDown(name string, down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down[name] = down
}

// fedServer is one homeserver of a fedNet with its owner logged in.
type fedServer struct {
	hs    *Homeserver
	c     client
	user  string
	token string
}

// originTransport marks requests with the server sending them, so the
// network can cut a server off in both directions.
type originTransport struct {
	name string
	net  *fedNet
}

func (o originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := o.net
	n.mu.Lock()
	cut := n.down[o.name]
	n.mu.Unlock()
	if cut {
		return nil, errPartitioned
	}
	return n.RoundTrip(req)
}

func (n *fedNet) open(t *testing.T, name, owner string) *fedServer {
	t.Helper()
	return n.openWrapped(t, name, owner, nil)
}

// openWrapped is open with the federation handler wrapped by wrap (when
// not nil), so a test or benchmark can watch what the server receives.
func (n *fedNet) openWrapped(t testing.TB, name, owner string, wrap func(http.Handler) http.Handler) *fedServer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ServerName = name
	cfg.DataDir = t.TempDir()
	if n.configure != nil {
		n.configure(name, &cfg)
	}
	hs, err := Open(context.Background(), cfg, OpenOptions{Logger: slog.New(slog.DiscardHandler), FederationTransport: originTransport{name: name, net: n}})
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	t.Cleanup(func() { hs.Close() })
	var fh http.Handler = hs.Federation
	if wrap != nil {
		fh = wrap(fh)
	}
	fed := httptest.NewServer(fh)
	t.Cleanup(fed.Close)
	n.mu.Lock()
	n.hosts[name] = fed.URL
	n.mu.Unlock()
	user, err := hs.CreateOwner(t.Context(), owner, owner+" password")
	if err != nil {
		t.Fatal(err)
	}
	cs := httptest.NewServer(hs.Handler)
	t.Cleanup(cs.Close)
	c := client{t: t, url: cs.URL}
	return &fedServer{hs: hs, c: c, user: user, token: c.login(owner, owner+" password")}
}

// bodies returns the message bodies of roomID that s's owner sees,
// oldest first.
func (s *fedServer) bodies(roomID string) []string {
	status, out := s.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=200", s.token, nil)
	if status != http.StatusOK {
		return nil
	}
	chunk, _ := out["chunk"].([]any)
	var got []string
	for i := len(chunk) - 1; i >= 0; i-- {
		ev, _ := chunk[i].(map[string]any)
		if ev["type"] != "m.room.message" {
			continue
		}
		content, _ := ev["content"].(map[string]any)
		if b, ok := content["body"].(string); ok {
			got = append(got, b)
		}
	}
	return got
}

// ephemeral returns the ephemeral events of roomID in a /sync of s's
// owner, as JSON.
func (s *fedServer) ephemeral(roomID string) string {
	_, out := s.c.do("GET", "/_matrix/client/v3/sync?timeout=0", s.token, nil)
	rooms, _ := out["rooms"].(map[string]any)
	join, _ := rooms["join"].(map[string]any)
	r, _ := join[roomID].(map[string]any)
	b, _ := json.Marshal(r["ephemeral"])
	return string(b)
}

// lastEventID returns the newest event of roomID s's owner sees.
func (s *fedServer) lastEventID(roomID string) string {
	_, out := s.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=1", s.token, nil)
	chunk, _ := out["chunk"].([]any)
	if len(chunk) == 0 {
		return ""
	}
	ev, _ := chunk[0].(map[string]any)
	id, _ := ev["event_id"].(string)
	return id
}

// failing reports whether s's sender is backing off from destination.
func (s *fedServer) failing(destination string) bool {
	r, err := storage.NewFederationQueueStore(s.hs.db).Retry(context.Background(), destination)
	return err == nil && r.RetryInterval > 0
}

// topics returns the topics set in roomID's timeline as s's owner sees
// it, sorted.
func (s *fedServer) topics(roomID string) []string {
	_, out := s.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=200", s.token, nil)
	chunk, _ := out["chunk"].([]any)
	var got []string
	for _, c := range chunk {
		ev, _ := c.(map[string]any)
		if ev["type"] == "m.room.topic" {
			content, _ := ev["content"].(map[string]any)
			topic, _ := content["topic"].(string)
			got = append(got, topic)
		}
	}
	slices.Sort(got)
	return got
}

func (s *fedServer) send(roomID, body string) {
	s.c.t.Helper()
	txn := fmt.Sprintf("t%d", time.Now().UnixNano())
	s.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/"+txn, s.token,
		map[string]any{"msgtype": "m.text", "body": body})
}

func (s *fedServer) topic(roomID string) string {
	status, out := s.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.topic", s.token, nil)
	if status != http.StatusOK {
		return ""
	}
	topic, _ := out["topic"].(string)
	return topic
}

// eventually waits until cond holds; the test's deadline bounds the wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if deadline, ok := t.Deadline(); ok && time.Until(deadline) < 5*time.Second {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two homeservers built by Open federate over loopback HTTP: a remote
// join, messages both ways, a partition healed without losing or
// reordering a message, and a state fork that both resolve alike.
func TestTwoHomeserversFederate(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")

	roomID, _ := a.c.ok("POST", "/_matrix/client/v3/createRoom", a.token, map[string]any{"preset": "public_chat"})["room_id"].(string)
	a.send(roomID, "before b joined")
	b.c.ok("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID)+"?server_name=a.test", b.token, map[string]any{})
	// b's /messages reaches the join's prev_events: b backfills from a.
	if got := b.bodies(roomID); !slices.Equal(got, []string{"before b joined"}) {
		t.Fatalf("b's history before its join = %v, want a's message (backfilled)", got)
	}

	a.send(roomID, "hello from a")
	eventually(t, "b to see a's message", func() bool { return slices.Contains(b.bodies(roomID), "hello from a") })
	b.send(roomID, "hello from b")
	eventually(t, "a to see b's message", func() bool { return slices.Contains(a.bodies(roomID), "hello from b") })

	// EDUs: a's typing and b's read receipt reach the other server.
	a.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/typing/"+url.PathEscape(a.user), a.token,
		map[string]any{"typing": true, "timeout": 30000})
	eventually(t, "b to see a typing", func() bool { return strings.Contains(b.ephemeral(roomID), `"user_ids":["`+a.user+`"]`) })
	lastA := a.lastEventID(roomID)
	b.c.ok("POST", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/receipt/m.read/"+url.PathEscape(lastA), b.token, map[string]any{})
	eventually(t, "a to see b's receipt", func() bool { return strings.Contains(a.ephemeral(roomID), b.user) })

	// A to-device message to all of bob's devices crosses to b.
	a.c.ok("PUT", "/_matrix/client/v3/sendToDevice/m.test.ping/td1", a.token,
		map[string]any{"messages": map[string]any{b.user: map[string]any{"*": map[string]any{"ping": "from a"}}}})
	eventually(t, "bob's device to get a's to-device message", func() bool {
		_, out := b.c.do("GET", "/_matrix/client/v3/sync?timeout=0", b.token, nil)
		js, _ := json.Marshal(out["to_device"])
		return strings.Contains(string(js), `"ping":"from a"`) && strings.Contains(string(js), a.user)
	})

	// Partition: b is cut off while a sends; once b reaches a again, a
	// retries at once and b gets every message, in order, once.
	n.setDown("b.test", true)
	var sent []string
	for i := range 20 {
		body := fmt.Sprintf("during the partition %d", i)
		a.send(roomID, body)
		sent = append(sent, body)
	}
	eventually(t, "a to fail to reach b", func() bool { return a.failing("b.test") })
	n.setDown("b.test", false)
	b.send(roomID, "b is back")
	eventually(t, "b to get the messages sent during the partition", func() bool {
		got := b.bodies(roomID)
		var during []string
		for _, s := range got {
			if len(s) > 20 && s[:20] == "during the partition" {
				during = append(during, s)
			}
		}
		return slices.Equal(during, sent)
	})

	// A fork: both change the topic while apart; once healed, both report
	// the same current topic.
	a.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.power_levels/", a.token,
		map[string]any{"users": map[string]any{b.user: 100}})
	eventually(t, "b to see the power levels", func() bool {
		status, out := b.c.do("GET", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.power_levels/", b.token, nil)
		users, _ := out["users"].(map[string]any)
		return status == http.StatusOK && users[b.user] != nil
	})
	n.setDown("b.test", true)
	a.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.topic/", a.token, map[string]any{"topic": "from a"})
	b.c.ok("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/state/m.room.topic/", b.token, map[string]any{"topic": "from b"})
	eventually(t, "both to fail to reach the other", func() bool { return a.failing("b.test") && b.failing("a.test") })
	n.setDown("b.test", false)
	b.send(roomID, "healed")
	// Both back off. As if b had reached a (the first partition showed a
	// real request doing it), a retries at once, and its transaction tells
	// b that a is back.
	a.hs.sender.DestinationUp(context.Background(), "b.test")
	eventually(t, "both servers to agree on the topic", func() bool {
		ta, tb := a.topic(roomID), b.topic(roomID)
		return ta != "" && ta == tb && slices.Contains(a.bodies(roomID), "healed")
	})
	// It was a fork: each server holds both topics.
	want := []string{"from a", "from b"}
	eventually(t, "each server to hold both topics", func() bool {
		return slices.Equal(a.topics(roomID), want) && slices.Equal(b.topics(roomID), want)
	})
}
