package idb

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// FuzzData runs a sequence of writes, truncations and reads, decoded from
// the input, on a data and on a plain byte slice, and checks that both hold
// the same bytes, that blocks past the end read as zeros, and that every
// changed block is marked dirty.
func FuzzData(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 10})
	f.Add([]byte{0, 0x10, 0, 0x40, 0, 1, 0x01, 0, 1, 0, 2, 0, 0x10, 0, 0, 0, 0x80})
	f.Add([]byte{1, 0xff, 0xff, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 2, 0, 0, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0, 0x12, 0x34, 0x0f, 0xff}, 20))
	f.Fuzz(func(t *testing.T, ops []byte) {
		d := &data{path: "/fuzz", dirty: map[int]struct{}{}}
		var model []byte
		for len(ops) >= 5 {
			op := ops[0] % 3
			off := int64(binary.BigEndian.Uint16(ops[1:3])) * 5
			n := int(binary.BigEndian.Uint16(ops[3:5])) % 40000
			ops = ops[5:]
			switch op {
			case 0: // write
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(int(off)+i) | 1
				}
				before := dirtyCopy(d)
				if got, err := d.writeAt(b, off); got != n || err != nil {
					t.Fatalf("writeAt(%d, %d) = %d, %v", n, off, got, err)
				}
				if end := int(off) + n; end > len(model) {
					model = append(model, make([]byte, end-len(model))...)
				}
				copy(model[off:], b)
				for blk := off / blockSize; n > 0 && blk <= (off+int64(n)-1)/blockSize; blk++ {
					if _, ok := d.dirty[int(blk)]; !ok {
						t.Fatalf("block %d written but not dirty (dirty before: %v)", blk, before)
					}
				}
			case 1: // truncate
				size := off * 3
				d.resize(size)
				if int(size) < len(model) {
					model = model[:size]
				} else {
					model = append(model, make([]byte, int(size)-len(model))...)
				}
			case 2: // read a range, maybe past the end
				b := make([]byte, n)
				got, err := d.readAt(b, off)
				want := 0
				if int(off) < len(model) {
					want = min(n, len(model)-int(off))
				}
				if got != want || (got < n) != (err == io.EOF) {
					t.Fatalf("readAt(%d, %d) = %d, %v; want %d bytes", n, off, got, err, want)
				}
				if got > 0 && !bytes.Equal(b[:got], model[off:int(off)+got]) {
					t.Fatalf("readAt(%d, %d) returned the wrong bytes", n, off)
				}
			}
			check(t, d, model)
		}
	})
}

func dirtyCopy(d *data) []int {
	var s []int
	for i := range d.dirty {
		s = append(s, i)
	}
	return s
}

// check compares d with model and checks d's invariants.
func check(t *testing.T, d *data, model []byte) {
	t.Helper()
	if d.size != int64(len(model)) {
		t.Fatalf("size = %d, want %d", d.size, len(model))
	}
	if want := (len(model) + blockSize - 1) / blockSize; len(d.blocks) != want {
		t.Fatalf("%d blocks for %d bytes, want %d", len(d.blocks), len(model), want)
	}
	for i, b := range d.blocks {
		lo := i * blockSize
		hi := min(lo+blockSize, len(model))
		if !bytes.Equal(b[:hi-lo], model[lo:hi]) {
			t.Fatalf("block %d differs from the model", i)
		}
		for _, c := range b[hi-lo:] {
			if c != 0 {
				t.Fatalf("block %d has non-zero bytes past the end of the file", i)
			}
		}
	}
	for i := range d.dirty {
		if i >= len(d.blocks) {
			t.Fatalf("dirty block %d past the last block %d", i, len(d.blocks)-1)
		}
	}
}
