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

// Result is a rendered thumbnail.
type Result struct {
	Data          []byte
	ContentType   string
	Width, Height int
}

// jpegQuality is the quality of JPEG thumbnails.
const jpegQuality = 85

// Generate decodes the image r holds, which Probe described as info, and
// renders p: as JPEG for a JPEG image, as PNG otherwise (keeping
// transparency). An animated image gives its first frame. It returns
// ErrTooLarge for an image of more than MaxPixels pixels and ErrUnsupported
// for content it cannot decode or a plan that does not fit the image.
func Generate(r io.Reader, info Info, p Plan) (Result, error) {
	if info.Pixels() > MaxPixels {
		return Result{}, ErrTooLarge
	}
	full := image.Rect(0, 0, info.Width, info.Height)
	if p.Src.Empty() || !p.Src.In(full) || p.Width <= 0 || p.Height <= 0 ||
		p.Width > p.Src.Dx() || p.Height > p.Src.Dy() {
		return Result{}, ErrUnsupported
	}
	img, err := decode(r, info.Format)
	if err != nil {
		return Result{}, ErrUnsupported
	}
	if b := img.Bounds(); b != full {
		// A GIF's first frame may cover part of the logical screen only;
		// the rest is transparent. Other formats must match their header.
		if info.Format != GIF || !b.In(full) {
			return Result{}, ErrUnsupported
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
	res := Result{Width: p.Width, Height: p.Height}
	if info.Format == JPEG {
		res.ContentType = JPEG.ContentType()
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: jpegQuality})
	} else {
		res.ContentType = PNG.ContentType()
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, dst)
	}
	if err != nil {
		return Result{}, err
	}
	res.Data = buf.Bytes()
	return res, nil
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
