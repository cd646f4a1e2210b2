package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

// TestSyncWaitHoldsNoReadTransaction checks that a long-polling /sync,
// whose passes read in a read scope, holds no read transaction while it
// waits (the WAL's checkpoints would stop at its snapshot), and that the
// pass a change wakes reads that change.
func TestSyncWaitHoldsNoReadTransaction(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	first, _ := e.sync(alice)
	waiting := waitForSync(t)
	done := make(chan response, 1)
	go func() {
		done <- e.do("GET", cs+"/sync?timeout=600000&since="+url.QueryEscape(first.NextBatch), alice, nil)
	}()
	select {
	case <-waiting:
	case <-done:
		t.Fatal("the sync returned without waiting")
	}
	db := e.g.DB
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("read transactions held by scopes while a /sync waits = %d, want 0", n)
	}
	msg := e.send(alice, roomID, "t1", "wake up")
	r := <-done
	if r.Status != http.StatusOK {
		t.Fatalf("woken sync: %d %s", r.Status, r.Body)
	}
	var resp syncResponse
	r.JSON(t, &resp)
	if got := timelineIDs(resp.Rooms.Join[roomID].Timeline.Events); !slices.Equal(got, []string{msg}) {
		t.Errorf("woken sync timeline = %v, want [%s]", got, msg)
	}
	if n := db.ReadScopeTransactions(); n != 0 {
		t.Errorf("read transactions held by scopes after the request = %d, want 0", n)
	}
}

// stalledClient is a ResponseWriter whose client stops reading once the
// answer begins: Write blocks until resume is closed.
type stalledClient struct {
	header  http.Header
	status  int
	body    []byte
	writing chan struct{} // closed at the first Write
	resume  chan struct{}
}

func (c *stalledClient) Header() http.Header { return c.header }

func (c *stalledClient) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *stalledClient) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body == nil {
		close(c.writing)
		<-c.resume
	}
	c.body = append(c.body, b...)
	return len(b), nil
}

// TestAnswerWrittenWithoutReadTransaction checks that a read-only request
// ends its read scope before its answer goes to the client: a client that
// reads slowly must not keep a pool connection, a scope slot and a WAL
// snapshot for as long as the download takes.
func TestAnswerWrittenWithoutReadTransaction(t *testing.T) {
	e := newSyncEnv(t)
	alice := e.user("alice", false)
	roomID := e.createRoom(alice, map[string]any{"preset": "private_chat"})
	c := &stalledClient{header: http.Header{}, writing: make(chan struct{}), resume: make(chan struct{})}
	req := httptest.NewRequest("GET", cs+"/sync?timeout=0", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.handler.ServeHTTP(c, req)
	}()
	<-c.writing
	held := e.g.DB.ReadScopeTransactions()
	close(c.resume)
	<-done
	if held != 0 {
		t.Errorf("read transactions held by scopes while the answer is written = %d, want 0", held)
	}
	if c.status != http.StatusOK {
		t.Fatalf("sync: %d %s", c.status, c.body)
	}
	var resp syncResponse
	if err := json.Unmarshal(c.body, &resp); err != nil {
		t.Fatalf("sync answer: %v", err)
	}
	if _, ok := resp.Rooms.Join[roomID]; !ok {
		t.Errorf("sync answer lacks the joined room %s", roomID)
	}
}
