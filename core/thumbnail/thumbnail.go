// Package thumbnail makes the content repository's thumbnails: it sniffs
// PNG, JPEG, GIF and WebP images (size, animation) with header readers of
// its own, plans a thumbnail by the client-server API's "crop" and "scale"
// methods without ever upscaling, and renders it as PNG or JPEG: natively
// with Go's decoders and golang.org/x/image/draw, in a browser tab with the
// browser's own image code (BrowserRender, set by the tab's host), so the
// decoders stay out of the tab's download. No I/O beyond the readers it is
// given.
//
// Natively, importing the package registers the PNG, JPEG, GIF and WebP
// decoders with package image (through the init functions of image/png,
// image/jpeg, image/gif and golang.org/x/image/webp); under GOOS=js it
// registers nothing.
package thumbnail

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// Errors of Probe and Generate.
var (
	// ErrUnsupported says the content is not an image this package can
	// thumbnail (not PNG, JPEG, GIF or WebP, corrupt, or animated WebP).
	ErrUnsupported = errors.New("thumbnail: cannot thumbnail this content")
	// ErrTooLarge says the image has more than MaxPixels pixels.
	ErrTooLarge = errors.New("thumbnail: image too large to thumbnail")
)

// MaxPixels bounds the images Generate decodes (width × height), so that a
// small file that decompresses into a huge bitmap cannot exhaust memory.
const MaxPixels = 32_000_000

// Format is an image format Probe recognises.
type Format string

// The formats.
const (
	PNG  Format = "png"
	JPEG Format = "jpeg"
	GIF  Format = "gif"
	WebP Format = "webp"
)

// ContentType is the format's media type.
func (f Format) ContentType() string { return "image/" + string(f) }

// Info is what Probe learns of an image.
type Info struct {
	Format        Format
	Width, Height int
	// Animated says the image has more than one frame (GIF, APNG) or is an
	// animated WebP.
	Animated bool
}

// Pixels is Width × Height.
func (i Info) Pixels() int64 { return int64(i.Width) * int64(i.Height) }

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte("\xff\xd8\xff")
)

// Probe reads the start of r (for GIF and PNG, the block structure up to
// the image data or the second frame; for JPEG, the segments up to the
// frame header or the first scan; for WebP, the chunks up to the one that
// gives the size) and says what image it holds. It returns ErrUnsupported
// for anything else.
func Probe(r io.Reader) (Info, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, _ := br.Peek(32)
	var (
		info Info
		err  error
	)
	switch {
	case bytes.HasPrefix(head, pngMagic):
		info, err = probePNG(br)
	case bytes.HasPrefix(head, jpegMagic):
		info, err = probeJPEG(br)
	case bytes.HasPrefix(head, []byte("GIF87a")) || bytes.HasPrefix(head, []byte("GIF89a")):
		info, err = probeGIF(br)
	case len(head) >= 16 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		info, err = probeWebP(br)
		// A VP8X header's flags byte says whether the image is animated.
		info.Animated = len(head) >= 21 && string(head[12:16]) == "VP8X" && head[20]&0x02 != 0
	default:
		return Info{}, ErrUnsupported
	}
	if err != nil || info.Width <= 0 || info.Height <= 0 {
		return Info{}, ErrUnsupported
	}
	return info, nil
}

// probePNG reads the chunks up to the first IDAT: IHDR gives the size, an
// acTL chunk (which must come before IDAT) makes it an APNG.
func probePNG(r io.Reader) (Info, error) {
	info := Info{Format: PNG}
	if _, err := io.CopyN(io.Discard, r, int64(len(pngMagic))); err != nil {
		return Info{}, err
	}
	var hdr [8]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return Info{}, err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n > 1<<31-1 {
			return Info{}, ErrUnsupported
		}
		typ := string(hdr[4:8])
		switch {
		case i == 0 && (typ != "IHDR" || n != 13):
			return Info{}, ErrUnsupported
		case i == 0:
			var ihdr [13]byte
			if _, err := io.ReadFull(r, ihdr[:]); err != nil {
				return Info{}, err
			}
			w, h := binary.BigEndian.Uint32(ihdr[0:4]), binary.BigEndian.Uint32(ihdr[4:8])
			if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
				return Info{}, ErrUnsupported
			}
			info.Width, info.Height = int(w), int(h)
			n = 0 // read already; skip the CRC below
		case typ == "acTL":
			info.Animated = true
			return info, nil
		case typ == "IDAT":
			return info, nil
		}
		if _, err := io.CopyN(io.Discard, r, int64(n)+4); err != nil {
			return Info{}, err
		}
	}
}

// probeGIF reads the logical screen size and walks the blocks until a
// second image or the trailer.
func probeGIF(r io.Reader) (Info, error) {
	info := Info{Format: GIF}
	var lsd [13]byte // header and logical screen descriptor
	if _, err := io.ReadFull(r, lsd[:]); err != nil {
		return Info{}, err
	}
	info.Width = int(binary.LittleEndian.Uint16(lsd[6:8]))
	info.Height = int(binary.LittleEndian.Uint16(lsd[8:10]))
	if lsd[10]&0x80 != 0 {
		if err := skip(r, 3<<(lsd[10]&7+1)); err != nil {
			return Info{}, err
		}
	}
	frames := 0
	var b [9]byte
	for {
		if _, err := io.ReadFull(r, b[:1]); err != nil {
			if frames == 1 {
				return info, nil // truncated after one whole frame: still an image
			}
			return Info{}, err
		}
		switch b[0] {
		case 0x21: // extension: label, then data sub-blocks
			if _, err := io.ReadFull(r, b[:1]); err != nil {
				return Info{}, err
			}
			if err := skipSubBlocks(r); err != nil {
				return Info{}, err
			}
		case 0x2c: // image descriptor, local colour table, LZW code size, data
			if _, err := io.ReadFull(r, b[:9]); err != nil {
				return Info{}, err
			}
			if frames++; frames > 1 {
				info.Animated = true
				return info, nil
			}
			if b[8]&0x80 != 0 {
				if err := skip(r, 3<<(b[8]&7+1)); err != nil {
					return Info{}, err
				}
			}
			if err := skip(r, 1); err != nil {
				return Info{}, err
			}
			if err := skipSubBlocks(r); err != nil {
				return Info{}, err
			}
		case 0x3b: // trailer
			if frames == 0 {
				return Info{}, ErrUnsupported
			}
			return info, nil
		default:
			return Info{}, ErrUnsupported
		}
	}
}

func skip(r io.Reader, n int) error {
	_, err := io.CopyN(io.Discard, r, int64(n))
	return err
}

// skipSubBlocks skips GIF data sub-blocks up to the empty one.
func skipSubBlocks(r io.Reader) error {
	var n [1]byte
	for {
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return err
		}
		if n[0] == 0 {
			return nil
		}
		if err := skip(r, int(n[0])); err != nil {
			return err
		}
	}
}
