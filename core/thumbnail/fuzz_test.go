package thumbnail_test

import (
	"bytes"
	"errors"
	"image"
	"testing"

	"hearth.dev/hearth/core/thumbnail"
)

// FuzzThumbnail feeds arbitrary bytes through Probe, PlanFor and Generate:
// no panic, and a thumbnail that is made decodes at the planned size.
func FuzzThumbnail(f *testing.F) {
	still := stripes(12, 7)
	f.Add(encodePNG(f, still), 5, 5, true)
	f.Add(encodeJPEG(f, still), 6, 3, false)
	f.Add(encodeGIF(f, still, stripes(12, 7)), 4, 4, true)
	f.Add(withChunk(encodePNG(f, still), "acTL", []byte{0, 0, 0, 2, 0, 0, 0, 0}), 3, 9, false)
	f.Add(readTestdata(f, "gopher-doc.1bpp.lossless.webp"), 16, 16, true)
	f.Add(readTestdata(f, "blue-purple-pink.lossy.webp"), 20, 10, false)
	f.Add(hugePNG(3, 3), 2, 2, true)
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,"), 1, 1, false)
	f.Fuzz(func(t *testing.T, data []byte, w, h int, crop bool) {
		info, err := thumbnail.Probe(bytes.NewReader(data))
		if err != nil {
			return
		}
		if info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("Probe gave %dx%d without an error", info.Width, info.Height)
		}
		if info.Pixels() > 1<<16 {
			return // keep each run fast; the limit itself is tested elsewhere
		}
		m := thumbnail.Scale
		if crop {
			m = thumbnail.Crop
		}
		p := thumbnail.PlanFor(info.Width, info.Height, w%200, h%200, m)
		if p.Width > p.Src.Dx() || p.Height > p.Src.Dy() || !p.Src.In(image.Rect(0, 0, info.Width, info.Height)) {
			t.Fatalf("PlanFor(%dx%d, %d, %d, %s) = %+v", info.Width, info.Height, w%200, h%200, m, p)
		}
		res, err := thumbnail.Generate(bytes.NewReader(data), info, p)
		if err != nil {
			if !errors.Is(err, thumbnail.ErrUnsupported) {
				t.Fatalf("Generate: unexpected error %v", err)
			}
			return
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(res.Data))
		if err != nil {
			t.Fatalf("thumbnail does not decode: %v", err)
		}
		if cfg.Width != p.Width || cfg.Height != p.Height {
			t.Fatalf("thumbnail is %dx%d, plan says %dx%d", cfg.Width, cfg.Height, p.Width, p.Height)
		}
	})
}
