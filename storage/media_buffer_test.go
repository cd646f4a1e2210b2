package storage

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"hearth.dev/hearth/core"
)

// TestUploadsReuseBlockBuffers: small uploads with the default block size
// do not allocate a block each (256 KiB), and contents stored one after
// another through the same buffer, single-block and multi-block, are each
// read back as uploaded.
func TestUploadsReuseBlockBuffers(t *testing.T) {
	ctx := context.Background()
	s, _ := testMediaStore(t, 0) // core.MediaBlockSize
	upload := func(i, size int) []byte {
		content := mediaPattern(size, byte(i))
		content[0] = byte(i) // every content differs
		if _, err := s.UploadMedia(ctx, newMediaUpload(fmt.Sprint("m", i), 1<<20), bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		return content
	}
	upload(0, 1000) // the first takes a buffer
	const n = 40
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 1; i <= n; i++ {
		upload(i, 2000)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= core.MediaBlockSize/2 {
		t.Errorf("a 2,000-byte upload allocated %d bytes", per)
	}
	// A large upload in between, then small ones: each reads back whole.
	contents := map[int][]byte{}
	for i, size := range []int{3000, core.MediaBlockSize*2 + 5, 700, core.MediaBlockSize, 10} {
		contents[100+i] = upload(100+i, size)
	}
	for i, want := range contents {
		if got := readAllMedia(t, s, fmt.Sprint("m", i), 4096); !bytes.Equal(got, want) {
			t.Errorf("media m%d (%d bytes) reads back %d bytes, not as uploaded", i, len(want), len(got))
		}
	}
}
