package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core"
)

// testMediaStore opens a fresh database with a media store whose blocks are
// small, so short contents span several of them.
func testMediaStore(tb testing.TB, blockSize int) (*MediaStore, *DB) {
	tb.Helper()
	db := mustOpen(tb)
	s := NewMediaStore(db)
	s.BlockSize = blockSize
	return s, db
}

// mediaPattern returns n bytes that differ from one block to the next.
func mediaPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/13)
	}
	return b
}

func newMediaUpload(id string, max int64) core.MediaUpload {
	return core.MediaUpload{
		Media: core.Media{MediaID: id, UserID: "@alice:example.org", ContentType: "application/octet-stream",
			UploadName: "f.bin", CreatedTS: 1000},
		MaxSize: max, NowTS: 1000,
	}
}

// readAllMedia reads mediaID's content with ReadMediaAt in steps of step bytes.
func readAllMedia(tb testing.TB, s *MediaStore, mediaID string, step int) []byte {
	tb.Helper()
	var out []byte
	p := make([]byte, step)
	for off := int64(0); ; {
		n, err := s.ReadMediaAt(context.Background(), mediaID, p, off)
		out = append(out, p[:n]...)
		off += int64(n)
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("ReadMediaAt(%s, %d): %v", mediaID, off, err)
		}
		if n != step {
			tb.Fatalf("ReadMediaAt(%s, %d) = %d bytes without EOF, want %d", mediaID, off, n, step)
		}
	}
}

func TestMediaRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"under one block", 15},
		{"exactly one block", 16},
		{"one block and one byte", 17},
		{"several blocks", 100},
		{"exact blocks", 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testMediaStore(t, 16)
			content := mediaPattern(tt.size, 3)
			up := newMediaUpload("m1", 1000)
			got, err := s.UploadMedia(ctx, up, bytes.NewReader(content))
			if err != nil {
				t.Fatalf("UploadMedia: %v", err)
			}
			sum := sha256.Sum256(content)
			want := up.Media
			want.Size, want.SHA256, want.Uploaded = int64(tt.size), hex.EncodeToString(sum[:]), true
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UploadMedia returned (-want +got):\n%s", diff)
			}
			stored, err := s.Media(ctx, "m1")
			if err != nil {
				t.Fatalf("Media: %v", err)
			}
			if diff := cmp.Diff(want, stored); diff != "" {
				t.Errorf("Media (-want +got):\n%s", diff)
			}
			for _, step := range []int{1, 5, 16, 33, 1000} {
				if got := readAllMedia(t, s, "m1", step); !bytes.Equal(got, content) {
					t.Errorf("read in steps of %d: got %d bytes, want %d (equal: false)", step, len(got), len(content))
				}
			}
		})
	}
}

func TestReadMediaAtEdges(t *testing.T) {
	ctx := context.Background()
	s, _ := testMediaStore(t, 16)
	content := mediaPattern(40, 9)
	if _, err := s.UploadMedia(ctx, newMediaUpload("m", 100), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off     int64
		len     int
		wantN   int
		wantEOF bool
	}{
		{0, 40, 40, false},
		{0, 41, 40, true},
		{15, 2, 2, false},   // across a block boundary
		{10, 30, 30, false}, // three blocks, ends at the end
		{39, 5, 1, true},
		{40, 1, 0, true},
		{100, 1, 0, true},
		{5, 0, 0, false},
	}
	for _, tt := range tests {
		p := make([]byte, tt.len)
		n, err := s.ReadMediaAt(ctx, "m", p, tt.off)
		if n != tt.wantN || (err == io.EOF) != tt.wantEOF || (err != nil && err != io.EOF) {
			t.Errorf("ReadMediaAt(off %d, len %d) = %d, %v; want %d, EOF %v", tt.off, tt.len, n, err, tt.wantN, tt.wantEOF)
			continue
		}
		if !bytes.Equal(p[:n], content[min(tt.off, 40):min(tt.off, 40)+int64(n)]) {
			t.Errorf("ReadMediaAt(off %d, len %d) read the wrong bytes", tt.off, tt.len)
		}
	}
	if _, err := s.ReadMediaAt(ctx, "m", make([]byte, 1), -1); !errors.Is(err, core.ErrInvalidParam) {
		t.Errorf("ReadMediaAt(off -1) = %v, want M_INVALID_PARAM", err)
	}
	if _, err := s.ReadMediaAt(ctx, "nope", make([]byte, 1), 0); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ReadMediaAt(unknown) = %v, want M_NOT_FOUND", err)
	}
}

func TestMediaTooLargeKeepsNothing(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{11, 40, 100} { // one block, several blocks
		s, db := testMediaStore(t, 16)
		_, err := s.UploadMedia(ctx, newMediaUpload("big", 10), bytes.NewReader(mediaPattern(size, 1)))
		if !errors.Is(err, core.ErrTooLarge) {
			t.Errorf("upload of %d bytes with limit 10: %v, want M_TOO_LARGE", size, err)
		}
		if _, err := s.Media(ctx, "big"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("after a refused upload of %d bytes, Media = %v, want M_NOT_FOUND", size, err)
		}
		for _, table := range []string{"media", "media_blobs", "media_blocks"} {
			if n := countRows(t, db, table); n != 0 {
				t.Errorf("after a refused upload of %d bytes, %s has %d rows", size, table, n)
			}
		}
	}
	// Exactly at the limit is fine.
	s, _ := testMediaStore(t, 16)
	if _, err := s.UploadMedia(ctx, newMediaUpload("fits", 40), bytes.NewReader(mediaPattern(40, 1))); err != nil {
		t.Errorf("upload of exactly the limit: %v", err)
	}
}

// failingMediaReader gives n bytes, then an error.
type failingMediaReader struct {
	n   int
	err error
}

func (r *failingMediaReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

func TestMediaReaderErrorKeepsNothing(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("connection reset")
	for _, n := range []int{5, 50} {
		s, db := testMediaStore(t, 16)
		_, err := s.UploadMedia(ctx, newMediaUpload("m", 1000), &failingMediaReader{n: n, err: boom})
		if !errors.Is(err, boom) {
			t.Errorf("upload failing after %d bytes: %v, want %v", n, err, boom)
		}
		for _, table := range []string{"media", "media_blobs", "media_blocks"} {
			if c := countRows(t, db, table); c != 0 {
				t.Errorf("after failing after %d bytes, %s has %d rows", n, table, c)
			}
		}
	}
}

func TestMediaDeduplicates(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{10, 100} {
		s, db := testMediaStore(t, 16)
		content := mediaPattern(size, 5)
		a, err := s.UploadMedia(ctx, newMediaUpload("a", 1000), bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.UploadMedia(ctx, newMediaUpload("b", 1000), bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if a.SHA256 != b.SHA256 {
			t.Errorf("same content, different sha256: %s, %s", a.SHA256, b.SHA256)
		}
		if n := countRows(t, db, "media_blobs"); n != 1 {
			t.Errorf("%d bytes uploaded twice: %d blobs, want 1", size, n)
		}
		wantBlocks := (size + 15) / 16
		if n := countRows(t, db, "media_blocks"); n != wantBlocks {
			t.Errorf("%d bytes uploaded twice: %d blocks, want %d", size, n, wantBlocks)
		}
		if got := readAllMedia(t, s, "b", 7); !bytes.Equal(got, content) {
			t.Errorf("%d bytes: the second copy reads back wrong", size)
		}
		if _, err := s.UploadMedia(ctx, newMediaUpload("c", 1000), bytes.NewReader(mediaPattern(size, 6))); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, "media_blobs"); n != 2 {
			t.Errorf("after a different content: %d blobs, want 2", n)
		}
	}
}

func TestMediaNewIDMustBeNew(t *testing.T) {
	ctx := context.Background()
	s, _ := testMediaStore(t, 16)
	if _, err := s.UploadMedia(ctx, newMediaUpload("m", 100), bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	_, err := s.UploadMedia(ctx, newMediaUpload("m", 100), bytes.NewReader([]byte("y")))
	if !errors.Is(err, core.ErrCannotOverwriteMedia) {
		t.Errorf("second upload to the same new ID: %v, want M_CANNOT_OVERWRITE_MEDIA", err)
	}
	if got := readAllMedia(t, s, "m", 10); string(got) != "x" {
		t.Errorf("content after a refused overwrite = %q, want %q", got, "x")
	}
}

func TestMediaReservation(t *testing.T) {
	ctx := context.Background()
	s, _ := testMediaStore(t, 16)
	const alice, bob = "@alice:example.org", "@bob:example.org"
	res := core.Media{MediaID: "r", UserID: alice, CreatedTS: 1000, UnusedExpiresTS: 5000}
	if err := s.CreateMedia(ctx, res); err != nil {
		t.Fatalf("CreateMedia: %v", err)
	}
	if err := s.CreateMedia(ctx, res); !errors.Is(err, core.ErrCannotOverwriteMedia) {
		t.Errorf("CreateMedia twice: %v, want M_CANNOT_OVERWRITE_MEDIA", err)
	}
	m, err := s.Media(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res, m); diff != "" {
		t.Errorf("Media of a reservation (-want +got):\n%s", diff)
	}
	if _, err := s.ReadMediaAt(ctx, "r", make([]byte, 1), 0); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ReadMediaAt of a reservation: %v, want M_NOT_FOUND", err)
	}
	for _, tc := range []struct {
		user string
		now  int64
		want int
	}{{alice, 1000, 1}, {alice, 4999, 1}, {alice, 5000, 0}, {bob, 1000, 0}} {
		if n, err := s.PendingMedia(ctx, tc.user, tc.now); err != nil || n != tc.want {
			t.Errorf("PendingMedia(%s, %d) = %d, %v; want %d", tc.user, tc.now, n, err, tc.want)
		}
	}

	upload := func(id, user string, now int64) error {
		up := newMediaUpload(id, 100)
		up.Media.UserID, up.Reserved, up.NowTS = user, true, now
		_, err := s.UploadMedia(ctx, up, bytes.NewReader([]byte("hello")))
		return err
	}
	tests := []struct {
		name, id, user string
		now            int64
		want           error
	}{
		{"never created", "zz", alice, 2000, core.ErrNotFound},
		{"another user", "r", bob, 2000, core.ErrForbidden},
		{"expired", "r", alice, 5000, core.ErrNotFound},
		{"owner in time", "r", alice, 2000, nil},
		{"again", "r", alice, 2000, core.ErrCannotOverwriteMedia},
	}
	for _, tt := range tests {
		if err := upload(tt.id, tt.user, tt.now); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: UploadMedia = %v, want %v", tt.name, err, tt.want)
		}
	}
	m, err = s.Media(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Uploaded || m.Size != 5 || m.UnusedExpiresTS != 0 || m.ContentType != "application/octet-stream" {
		t.Errorf("after the upload, Media = %+v", m)
	}
	if n, _ := s.PendingMedia(ctx, alice, 1000); n != 0 {
		t.Errorf("PendingMedia after the upload = %d, want 0", n)
	}

	// An expired reservation is dropped when the next one is made.
	if err := s.CreateMedia(ctx, core.Media{MediaID: "old", UserID: alice, CreatedTS: 1000, UnusedExpiresTS: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMedia(ctx, core.Media{MediaID: "new", UserID: alice, CreatedTS: 3000, UnusedExpiresTS: 9000}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Media(ctx, "old"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("expired reservation after a new one: %v, want M_NOT_FOUND", err)
	}
	if _, err := s.Media(ctx, "r"); err != nil {
		t.Errorf("uploaded media after a new reservation: %v", err)
	}
}

func TestMediaDropsInterruptedUploads(t *testing.T) {
	ctx := context.Background()
	s, db := testMediaStore(t, 16)
	err := db.Write(ctx, func(q Queryer) error {
		id, err := insertBlob(ctx, q, nil, 0, 16, 10)
		if err != nil {
			return err
		}
		return insertBlock(ctx, q, id, 0, []byte("leftover"))
	})
	if err != nil {
		t.Fatal(err)
	}
	up := newMediaUpload("m", 1000)
	up.NowTS = 10 + incompleteBlobAge + 1
	if _, err := s.UploadMedia(ctx, up, bytes.NewReader(mediaPattern(50, 2))); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "media_blobs"); n != 1 {
		t.Errorf("media_blobs has %d rows, want 1 (the leftover dropped)", n)
	}
	if n := countRows(t, db, "media_blocks"); n != 4 {
		t.Errorf("media_blocks has %d rows, want 4", n)
	}
}

func TestMediaThumbnails(t *testing.T) {
	ctx := context.Background()
	s, db := testMediaStore(t, 16)
	content := mediaPattern(30, 4)
	for _, id := range []string{"a", "b"} {
		if _, err := s.UploadMedia(ctx, newMediaUpload(id, 100), bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	key := core.ThumbnailKey{Width: 32, Height: 32, Method: "crop"}
	if _, err := s.Thumbnail(ctx, "a", key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Thumbnail before any is stored: %v, want M_NOT_FOUND", err)
	}
	th := core.Thumbnail{Key: key, ContentType: "image/png", Width: 32, Height: 20, Data: []byte("png bytes")}
	if err := s.StoreThumbnail(ctx, "a", th); err != nil {
		t.Fatalf("StoreThumbnail: %v", err)
	}
	// b has the same content, so it shares a's thumbnails.
	for _, id := range []string{"a", "b"} {
		got, err := s.Thumbnail(ctx, id, key)
		if err != nil {
			t.Fatalf("Thumbnail(%s): %v", id, err)
		}
		if diff := cmp.Diff(th, got); diff != "" {
			t.Errorf("Thumbnail(%s) (-want +got):\n%s", id, diff)
		}
	}
	for _, other := range []core.ThumbnailKey{
		{Width: 32, Height: 32, Method: "scale"},
		{Width: 32, Height: 32, Method: "crop", Animated: true},
		{Width: 32, Height: 33, Method: "crop"},
	} {
		if _, err := s.Thumbnail(ctx, "a", other); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("Thumbnail(%+v) with only %+v stored: %v, want M_NOT_FOUND", other, key, err)
		}
	}
	orig := core.Thumbnail{Key: key, ContentType: "image/gif", Width: 10, Height: 10, Original: true, Data: []byte("ignored")}
	if err := s.StoreThumbnail(ctx, "b", orig); err != nil {
		t.Fatalf("StoreThumbnail replacing: %v", err)
	}
	got, err := s.Thumbnail(ctx, "a", key)
	if err != nil {
		t.Fatal(err)
	}
	orig.Data = nil
	if diff := cmp.Diff(orig, got); diff != "" {
		t.Errorf("replaced thumbnail (-want +got):\n%s", diff)
	}
	if n := countRows(t, db, "media_thumbnails"); n != 1 {
		t.Errorf("media_thumbnails has %d rows, want 1", n)
	}
	if err := s.StoreThumbnail(ctx, "nope", th); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("StoreThumbnail for unknown media: %v, want M_NOT_FOUND", err)
	}
	if err := s.CreateMedia(ctx, core.Media{MediaID: "pending", UserID: "@a:b", CreatedTS: 1, UnusedExpiresTS: 1 << 50}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreThumbnail(ctx, "pending", th); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("StoreThumbnail for media without content: %v, want M_NOT_FOUND", err)
	}
}

func BenchmarkMediaUpload1MiB(b *testing.B) {
	ctx := context.Background()
	s, _ := testMediaStore(b, core.MediaBlockSize)
	content := mediaPattern(1<<20, 0)
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A different first byte each time keeps deduplication out of it.
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16)
		up := newMediaUpload(hex.EncodeToString([]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}), 1<<21)
		if _, err := s.UploadMedia(ctx, up, bytes.NewReader(content)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMediaRead1MiB(b *testing.B) {
	ctx := context.Background()
	s, _ := testMediaStore(b, core.MediaBlockSize)
	content := mediaPattern(1<<20, 0)
	if _, err := s.UploadMedia(ctx, newMediaUpload("m", 1<<21), bytes.NewReader(content)); err != nil {
		b.Fatal(err)
	}
	p := make([]byte, core.MediaBlockSize)
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	for b.Loop() {
		for off := int64(0); off < int64(len(content)); off += int64(len(p)) {
			if _, err := s.ReadMediaAt(ctx, "m", p, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}
