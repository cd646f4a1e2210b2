package thumbnail

import (
	"encoding/binary"
	"io"
)

// probeWebP reads a WebP's RIFF chunks up to the first that gives the
// canvas size: VP8X (extended format), "VP8 " (a lossy key frame's header)
// or VP8L (the lossless header). It accepts exactly what
// golang.org/x/image/webp's DecodeConfig accepts (the decoder Generate
// uses natively), chunk sizes and padding checked as its RIFF reader
// checks them. Whether a VP8X image is animated is Probe's business.
func probeWebP(r io.Reader) (Info, error) {
	var b [10]byte
	if _, err := io.ReadFull(r, b[:8]); err != nil {
		return Info{}, err
	}
	total := binary.LittleEndian.Uint32(b[4:8])
	if string(b[:4]) != "RIFF" || total < 4 {
		return Info{}, ErrUnsupported
	}
	if _, err := io.ReadFull(r, b[:4]); err != nil {
		return Info{}, err
	}
	if string(b[:4]) != "WEBP" {
		return Info{}, ErrUnsupported
	}
	total -= 4 // what the RIFF chunk holds after its form type
	for {
		// Chunks are padded to an even size; the padding counts in the
		// RIFF size.
		if total < 8 {
			return Info{}, ErrUnsupported
		}
		total -= 8
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return Info{}, err
		}
		n := binary.LittleEndian.Uint32(b[4:8])
		if n > total {
			return Info{}, ErrUnsupported
		}
		chunk := io.LimitReader(r, int64(n))
		switch string(b[:4]) {
		case "VP8X":
			if n != 10 {
				return Info{}, ErrUnsupported
			}
			if _, err := io.ReadFull(chunk, b[:10]); err != nil {
				return Info{}, err
			}
			w := uint64(b[4]) | uint64(b[5])<<8 | uint64(b[6])<<16 + 1
			h := uint64(b[7]) | uint64(b[8])<<8 | uint64(b[9])<<16 + 1
			if w*h > 1<<31-1 {
				return Info{}, ErrUnsupported
			}
			return Info{Format: WebP, Width: int(w), Height: int(h)}, nil
		case "VP8 ":
			// Frame tag (3 bytes; bit 0 clear on a key frame), then on a
			// key frame the start code 9d 01 2a and two 14-bit sizes,
			// each with a 2-bit scale above it.
			if n > 1<<31-1 {
				return Info{}, ErrUnsupported
			}
			if _, err := io.ReadFull(chunk, b[:3]); err != nil {
				return Info{}, err
			}
			if b[0]&1 != 0 {
				return Info{}, ErrUnsupported // not a key frame: no size
			}
			if _, err := io.ReadFull(chunk, b[:7]); err != nil {
				return Info{}, err
			}
			if b[0] != 0x9d || b[1] != 0x01 || b[2] != 0x2a {
				return Info{}, ErrUnsupported
			}
			w := int(b[4]&0x3f)<<8 | int(b[3])
			h := int(b[6]&0x3f)<<8 | int(b[5])
			return Info{Format: WebP, Width: w, Height: h}, nil
		case "VP8L":
			// Signature 0x2f, then width-1 and height-1 in 14 bits each,
			// an alpha hint bit and a 3-bit version that must be 0
			// (least significant bit first).
			if _, err := io.ReadFull(chunk, b[:5]); err != nil {
				return Info{}, err
			}
			v := binary.LittleEndian.Uint32(b[1:5])
			if b[0] != 0x2f || v>>29 != 0 {
				return Info{}, ErrUnsupported
			}
			return Info{Format: WebP, Width: int(v&0x3fff) + 1, Height: int(v>>14&0x3fff) + 1}, nil
		case "ALPH":
			return Info{}, ErrUnsupported // only after a VP8X chunk
		}
		if _, err := io.CopyN(io.Discard, chunk, int64(n)); err != nil {
			return Info{}, err
		}
		total -= n
		if n&1 == 1 {
			if total == 0 {
				return Info{}, ErrUnsupported
			}
			total--
			if _, err := io.ReadFull(r, b[:1]); err != nil {
				return Info{}, err
			}
		}
	}
}
