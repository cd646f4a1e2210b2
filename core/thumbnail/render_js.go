package thumbnail

import (
	"io"
)

// BrowserRender renders thumbnails in a browser tab with the browser's own
// image code: data is the whole image Probe described as info; it returns
// p.Src of the image scaled to p.Width × p.Height, encoded as out (JPEG at
// quality jpegQuality/100), or ErrUnsupported when the browser cannot
// decode data or decodes it to another size than info's (a GIF's first
// frame is drawn on its logical screen, as natively). The tab's host sets
// it at start (wasm/thumbnail_js.go); while it is nil every image is
// ErrUnsupported. Go's decoders are not linked into the tab: they are
// about half a megabyte of its download.
var BrowserRender func(data []byte, info Info, p Plan, out Format, quality int) ([]byte, error)

// render reads r whole and hands it to BrowserRender. An animated WebP is
// ErrUnsupported, as natively (Go's WebP decoder reads still images only).
func render(r io.Reader, info Info, p Plan, out Format) ([]byte, error) {
	if BrowserRender == nil || info.Format == WebP && info.Animated {
		return nil, ErrUnsupported
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return BrowserRender(data, info, p, out, jpegQuality)
}
