package thumbnail

import (
	"encoding/binary"
	"io"
)

// JPEG markers (ITU T.81, Table B.1) the header reader acts on.
const (
	jpegSOF0 = 0xc0 // baseline
	jpegSOF1 = 0xc1 // extended sequential
	jpegSOF2 = 0xc2 // progressive
	jpegRST0 = 0xd0
	jpegRST7 = 0xd7
	jpegEOI  = 0xd9
	jpegSOS  = 0xda
	jpegAPP0 = 0xe0
	jpegAPPF = 0xef
	jpegDQT  = 0xdb
	jpegDHT  = 0xc4
	jpegDRI  = 0xdd
	jpegCOM  = 0xfe
)

// probeJPEG reads a JPEG's segments up to its frame header and returns the
// size the frame header gives. It accepts exactly what image/jpeg's
// DecodeConfig accepts (the decoder Generate uses natively): baseline,
// extended or progressive 8-bit frames of 1, 3 or 4 components with the
// sampling factors that decoder supports, found before the first scan; a
// file whose APP0 segment is not JFIF must reach its first scan. The EXIF
// orientation is not applied (neither does the decoder).
func probeJPEG(r io.ByteReader) (Info, error) {
	var (
		b      [2 + 6 + 3*4]byte
		jfif   bool // an APP0 segment says JFIF
		frame  bool // the frame header was read
		width  int
		height int
	)
	read := func(p []byte) error {
		for i := range p {
			c, err := r.ReadByte()
			if err != nil {
				return err
			}
			p[i] = c
		}
		return nil
	}
	skip := func(n int) error {
		for ; n > 0; n-- {
			if _, err := r.ReadByte(); err != nil {
				return err
			}
		}
		return nil
	}
	if err := read(b[:2]); err != nil {
		return Info{}, err
	}
	if b[0] != 0xff || b[1] != 0xd8 {
		return Info{}, ErrUnsupported
	}
	for {
		if err := read(b[:2]); err != nil {
			return Info{}, err
		}
		// Bytes before a marker are skipped, as the decoder does.
		for b[0] != 0xff {
			b[0] = b[1]
			c, err := r.ReadByte()
			if err != nil {
				return Info{}, err
			}
			b[1] = c
		}
		marker := b[1]
		if marker == 0 {
			continue // a stuffed 0xff00 outside entropy-coded data
		}
		for marker == 0xff { // fill bytes
			c, err := r.ReadByte()
			if err != nil {
				return Info{}, err
			}
			marker = c
		}
		if marker == jpegEOI {
			return Info{}, ErrUnsupported // no frame and scan
		}
		if jpegRST0 <= marker && marker <= jpegRST7 {
			continue
		}
		if err := read(b[:2]); err != nil {
			return Info{}, err
		}
		n := int(binary.BigEndian.Uint16(b[:2])) - 2
		if n < 0 {
			return Info{}, ErrUnsupported
		}
		var err error
		switch {
		case marker == jpegSOF0 || marker == jpegSOF1 || marker == jpegSOF2:
			if frame {
				return Info{}, ErrUnsupported // a second frame header
			}
			frame = true
			if width, height, err = jpegFrame(read, n); err == nil && jfif {
				return Info{Format: JPEG, Width: width, Height: height}, nil
			}
		case marker == jpegSOS:
			if !frame {
				return Info{}, ErrUnsupported // a scan before any frame header
			}
			return Info{Format: JPEG, Width: width, Height: height}, nil
		case marker == jpegAPP0 && n >= 5:
			if err = read(b[:5]); err == nil {
				jfif = string(b[:5]) == "JFIF\x00"
				err = skip(n - 5)
			}
		case marker == jpegDHT || marker == jpegDQT || marker == jpegDRI ||
			jpegAPP0 <= marker && marker <= jpegAPPF || marker == jpegCOM:
			err = skip(n)
		default:
			err = ErrUnsupported // lossless, arithmetic-coded, hierarchical or unknown
		}
		if err != nil {
			return Info{}, err
		}
	}
}

// jpegFrame reads a frame header's n bytes and checks them as image/jpeg
// does: 8-bit precision, 1, 3 or 4 components with distinct identifiers,
// quantisation tables 0–3 and the sampling factors it can decode. A zero
// size is allowed here (Probe refuses it).
func jpegFrame(read func([]byte) error, n int) (width, height int, err error) {
	var nComp int
	switch n {
	case 6 + 3*1, 6 + 3*3, 6 + 3*4:
		nComp = (n - 6) / 3
	default:
		return 0, 0, ErrUnsupported
	}
	var b [6 + 3*4]byte
	if err := read(b[:n]); err != nil {
		return 0, 0, err
	}
	if b[0] != 8 || int(b[5]) != nComp {
		return 0, 0, ErrUnsupported
	}
	var hs, vs [4]int
	for i := range nComp {
		c, hv, tq := b[6+3*i], b[7+3*i], b[8+3*i]
		for j := range i {
			if b[6+3*j] == c {
				return 0, 0, ErrUnsupported
			}
		}
		h, v := int(hv>>4), int(hv&0x0f)
		if tq > 3 || h < 1 || h > 4 || v < 1 || v > 4 || h == 3 || v == 3 {
			return 0, 0, ErrUnsupported
		}
		ok := true
		switch nComp {
		case 1:
			h, v = 1, 1
		case 3:
			switch i {
			case 0:
				ok = v != 4
			case 1:
				ok = hs[0]%h == 0 && vs[0]%v == 0
			case 2:
				ok = hs[1] == h && vs[1] == v
			}
		case 4:
			switch i {
			case 0:
				ok = hv == 0x11 || hv == 0x22
			case 1, 2:
				ok = hv == 0x11
			case 3:
				ok = hs[0] == h && vs[0] == v
			}
		}
		if !ok {
			return 0, 0, ErrUnsupported
		}
		hs[i], vs[i] = h, v
	}
	return int(b[3])<<8 | int(b[4]), int(b[1])<<8 | int(b[2]), nil
}
