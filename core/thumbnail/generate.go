package thumbnail

import (
	"image"
	"io"
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
//
// Natively Go's decoders render it (render_other.go); in a browser tab the
// browser does (render_js.go): the size and the type of the result are the
// same, the pixels may differ by the scaling filter.
func Generate(r io.Reader, info Info, p Plan) (Result, error) {
	if info.Pixels() > MaxPixels {
		return Result{}, ErrTooLarge
	}
	full := image.Rect(0, 0, info.Width, info.Height)
	if p.Src.Empty() || !p.Src.In(full) || p.Width <= 0 || p.Height <= 0 ||
		p.Width > p.Src.Dx() || p.Height > p.Src.Dy() {
		return Result{}, ErrUnsupported
	}
	out := PNG
	if info.Format == JPEG {
		out = JPEG
	}
	data, err := render(r, info, p, out)
	if err != nil {
		return Result{}, err
	}
	return Result{Data: data, ContentType: out.ContentType(), Width: p.Width, Height: p.Height}, nil
}
