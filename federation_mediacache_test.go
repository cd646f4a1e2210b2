package hearth

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"hearth.dev/hearth/storage"
)

// raw does a request against s's client API and returns the status and
// the body as bytes.
func (s *fedServer) raw(method, path string, body []byte) (int, []byte) {
	s.c.t.Helper()
	req, _ := http.NewRequest(method, s.c.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Media of another server is fetched over federation once and then
// served from b's database: a download still works while a is cut off.
func TestRemoteMediaCached(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	a := n.open(t, "a.test", "alice")
	b := n.open(t, "b.test", "bob")
	content := []byte(strings.Repeat("remote media ", 100))
	status, out := a.raw("POST", "/_matrix/media/v3/upload?filename=notes.txt", content)
	if status != http.StatusOK {
		t.Fatalf("upload = %d %s", status, out)
	}
	uri := string(out)
	i := strings.Index(uri, "mxc://a.test/")
	if i < 0 {
		t.Fatalf("upload answered %s", out)
	}
	mediaID := strings.Trim(uri[i+len("mxc://a.test/"):], `"}`)
	path := "/_matrix/client/v1/media/download/a.test/" + mediaID

	cache := storage.NewRemoteMediaCacheStore(b.hs.db)
	if items, _, err := cache.Size(context.Background()); err != nil || items != 0 {
		t.Fatalf("cache before = %d items, %v", items, err)
	}
	if status, got := b.raw("GET", path, nil); status != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("first download = %d, %d bytes", status, len(got))
	}
	if items, size, err := cache.Size(context.Background()); err != nil || items != 1 || size != int64(len(content)) {
		t.Fatalf("cache after a download = %d items, %d bytes, %v", items, size, err)
	}
	n.setDown("a.test", true)
	if status, got := b.raw("GET", path, nil); status != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("download with a cut off = %d, %d bytes; want it from the cache", status, len(got))
	}
	// Media never fetched is not there while a is away.
	if status, _ := b.raw("GET", "/_matrix/client/v1/media/download/a.test/neverfetched", nil); status == http.StatusOK {
		t.Fatal("unknown remote media served while its server is cut off")
	}
}

// The cache stays under its cap: the least recently used items go first,
// and an item larger than the cap is not kept.
func TestRemoteMediaCacheEvicts(t *testing.T) {
	n := &fedNet{hosts: map[string]string{}, down: map[string]bool{}}
	s := n.open(t, "a.test", "alice")
	cache := storage.NewRemoteMediaCacheStore(s.hs.db)
	ctx := context.Background()
	put := func(id string, size int) {
		t.Helper()
		if err := cache.Put(ctx, storage.RemoteMedia{Server: "b.test", MediaID: id, ContentType: "text/plain", Content: make([]byte, size)}, 100); err != nil {
			t.Fatal(err)
		}
	}
	has := func(id string) bool {
		_, ok, err := cache.Get(ctx, "b.test", id, "")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	put("one", 40)
	put("two", 40)
	if !has("one") { // "one" is now the most recently used
		t.Fatal("one is not cached")
	}
	put("three", 40) // 120 > 100: "two", the least recently used, goes
	if has("two") || !has("one") || !has("three") {
		t.Fatalf("after three: one %v two %v three %v; want two evicted", has("one"), has("two"), has("three"))
	}
	put("huge", 101)
	if has("huge") {
		t.Fatal("an item over the cap was kept")
	}
	if _, size, _ := cache.Size(ctx); size > 100 {
		t.Fatalf("cache holds %d bytes, cap 100", size)
	}
}
