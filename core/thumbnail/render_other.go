//go:build !js

package thumbnail

import (
	"bufio"
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// render decodes r with Go's decoders, scales p.Src to p's size with
// golang.org/x/image/draw (bilinear) and encodes it as out. Content that
// does not decode, or whose size differs from its header's, is
// ErrUnsupported.
func render(r io.Reader, info Info, p Plan, out Format) ([]byte, error) {
	img, err := decode(r, info.Format)
	if err != nil {
		return nil, ErrUnsupported
	}
	full := image.Rect(0, 0, info.Width, info.Height)
	if b := img.Bounds(); b != full {
		// A GIF's first frame may cover part of the logical screen only;
		// the rest is transparent. Other formats must match their header.
		if info.Format != GIF || !b.In(full) {
			return nil, ErrUnsupported
		}
		canvas := image.NewRGBA(full)
		draw.Draw(canvas, b, img, b.Min, draw.Src)
		img = canvas
	}
	dst := image.NewRGBA(image.Rect(0, 0, p.Width, p.Height))
	if p.Src.Dx() == p.Width && p.Src.Dy() == p.Height {
		draw.Draw(dst, dst.Bounds(), img, p.Src.Min, draw.Src)
	} else {
		draw.BiLinear.Scale(dst, dst.Bounds(), img, p.Src, draw.Src, nil)
	}
	var buf bytes.Buffer
	if out == JPEG {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: jpegQuality})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, dst)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decode(r io.Reader, f Format) (image.Image, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	switch f {
	case PNG:
		return png.Decode(br)
	case JPEG:
		return jpeg.Decode(br)
	case GIF:
		return gif.Decode(br)
	case WebP:
		return webp.Decode(br)
	}
	return nil, ErrUnsupported
}
