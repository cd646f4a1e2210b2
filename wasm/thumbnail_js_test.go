package main

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"syscall/js"
	"testing"

	"hearth.dev/hearth/core/thumbnail"
	"hearth.dev/hearth/wasm/jsvfs"
)

// The tab's thumbnails (core/thumbnail.Generate through renderThumbnail)
// in a real browser worker: the same sizes and types as natively
// (core/thumbnail's TestGenerate has the same table), the colours where
// they are, and the same refusals.

var (
	thumbRed   = color.RGBA{255, 0, 0, 255}
	thumbGreen = color.RGBA{0, 255, 0, 255}
	thumbBlue  = color.RGBA{0, 0, 255, 255}
)

// thumbStripes is a w × h image in three vertical bands: red, green, blue.
func thumbStripes(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := thumbRed
			switch {
			case x >= 2*w/3:
				c = thumbBlue
			case x >= w/3:
				c = thumbGreen
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func thumbEncode(t *testing.T, format string, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// thumbGIF encodes frames as one GIF whose logical screen is w × h; each
// frame keeps its own bounds.
func thumbGIF(t *testing.T, w, h int, frames ...image.Image) []byte {
	t.Helper()
	g := &gif.GIF{Config: image.Config{Width: w, Height: h, ColorModel: color.Palette(palette.Plan9)}}
	for _, f := range frames {
		p := image.NewPaletted(f.Bounds(), palette.Plan9)
		draw.Draw(p, p.Bounds(), f, f.Bounds().Min, draw.Src)
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// thumbWebP is img encoded as WebP by the browser itself (hearth has no
// WebP encoder).
func thumbWebP(t *testing.T, img *image.RGBA) []byte {
	t.Helper()
	g := js.Global()
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	canvas := g.Get("OffscreenCanvas").New(w, h)
	ctx := canvas.Call("getContext", "2d")
	pix := g.Get("Uint8ClampedArray").New(len(img.Pix))
	js.CopyBytesToJS(pix, img.Pix)
	ctx.Call("putImageData", g.Get("ImageData").New(pix, w, h), 0, 0)
	blob, err := jsvfs.Await(canvas, "convertToBlob", map[string]any{"type": "image/webp", "quality": 0.9})
	if err != nil || blob.Get("type").String() != "image/webp" {
		t.Fatalf("the browser made no WebP: %v", err)
	}
	buf, err := jsvfs.Await(blob, "arrayBuffer")
	if err != nil {
		t.Fatal(err)
	}
	u := g.Get("Uint8Array").New(buf)
	b := make([]byte, u.Get("length").Int())
	js.CopyBytesToGo(b, u)
	return b
}

// withEXIFOrientation puts an APP1 EXIF segment saying "rotate 90°"
// (orientation 6) after a JPEG's SOI marker.
func withEXIFOrientation(jpegData []byte) []byte {
	exif := []byte{0xff, 0xe1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0, 42, 0, 0, 0, 8, // TIFF header, big-endian, IFD at 8
		0, 1, // one entry
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation, SHORT, 1, value 6
		0, 0, 0, 0} // no next IFD
	return append(append(append([]byte{}, jpegData[:2]...), exif...), jpegData[2:]...)
}

func thumbNear(a, b color.Color, tol int) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	d := func(x, y uint32) bool { return max(x>>8, y>>8)-min(x>>8, y>>8) <= uint32(tol) }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

func TestThumbnailInBrowser(t *testing.T) {
	src := thumbStripes(300, 100)
	partial := image.NewRGBA(image.Rect(100, 0, 200, 100)) // the green band only
	draw.Draw(partial, partial.Bounds(), image.NewUniform(thumbGreen), image.Point{}, draw.Src)
	allBlue := image.NewRGBA(src.Bounds())
	draw.Draw(allBlue, allBlue.Bounds(), image.NewUniform(thumbBlue), image.Point{}, draw.Src)
	tests := []struct {
		name                string
		data                []byte
		w, h                int
		m                   thumbnail.Method
		wantType            string
		wantW, wantH        int
		left, centre, right color.Color // nil: transparent
	}{
		{"png scale", thumbEncode(t, "png", src), 150, 150, thumbnail.Scale, "image/png", 150, 50, thumbRed, thumbGreen, thumbBlue},
		{"png crop middle", thumbEncode(t, "png", src), 50, 50, thumbnail.Crop, "image/png", 50, 50, thumbGreen, thumbGreen, thumbGreen},
		{"jpeg scale", thumbEncode(t, "jpeg", src), 60, 60, thumbnail.Scale, "image/jpeg", 60, 20, thumbRed, thumbGreen, thumbBlue},
		{"jpeg with an EXIF orientation", withEXIFOrientation(thumbEncode(t, "jpeg", src)), 60, 60, thumbnail.Scale,
			"image/jpeg", 60, 20, thumbRed, thumbGreen, thumbBlue},
		{"gif crop", thumbGIF(t, 300, 100, src), 30, 30, thumbnail.Crop, "image/png", 30, 30, thumbGreen, thumbGreen, thumbGreen},
		{"animated gif, first frame", thumbGIF(t, 300, 100, src, allBlue),
			150, 150, thumbnail.Scale, "image/png", 150, 50, thumbRed, thumbGreen, thumbBlue},
		{"gif whose first frame covers part of the screen", thumbGIF(t, 300, 100, partial), 150, 150, thumbnail.Scale,
			"image/png", 150, 50, nil, thumbGreen, nil},
		{"same size re-encoded", thumbGIF(t, 300, 100, src), 300, 100, thumbnail.Scale, "image/png", 300, 100, thumbRed, thumbGreen, thumbBlue},
		{"webp crop", thumbWebP(t, src), 32, 32, thumbnail.Crop, "image/png", 32, 32, thumbGreen, thumbGreen, thumbGreen},
		{"webp scale", thumbWebP(t, src), 96, 96, thumbnail.Scale, "image/png", 96, 32, thumbRed, thumbGreen, thumbBlue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := thumbnail.Probe(bytes.NewReader(tt.data))
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			p := thumbnail.PlanFor(info.Width, info.Height, tt.w, tt.h, tt.m)
			res, err := thumbnail.Generate(bytes.NewReader(tt.data), info, p)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if res.ContentType != tt.wantType || res.Width != tt.wantW || res.Height != tt.wantH {
				t.Errorf("Generate = %s %dx%d, want %s %dx%d", res.ContentType, res.Width, res.Height, tt.wantType, tt.wantW, tt.wantH)
			}
			img, format, err := image.Decode(bytes.NewReader(res.Data))
			if err != nil {
				t.Fatalf("decoding the thumbnail: %v", err)
			}
			if "image/"+format != tt.wantType {
				t.Errorf("thumbnail decodes as %s, want %s", format, tt.wantType)
			}
			b := img.Bounds()
			if b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("thumbnail decodes as %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			y := b.Min.Y + b.Dy()/2
			for _, c := range []struct {
				x    int
				want color.Color
			}{{b.Min.X + 1, tt.left}, {b.Min.X + b.Dx()/2, tt.centre}, {b.Max.X - 2, tt.right}} {
				got := img.At(c.x, y)
				if c.want == nil {
					if _, _, _, a := got.RGBA(); a != 0 {
						t.Errorf("pixel (%d, %d) = %v, want transparent", c.x, y, got)
					}
				} else if !thumbNear(got, c.want, 60) {
					t.Errorf("pixel (%d, %d) = %v, want about %v", c.x, y, got, c.want)
				}
			}
		})
	}
}

func TestThumbnailInBrowserRefuses(t *testing.T) {
	pngData := thumbEncode(t, "png", thumbStripes(300, 100))
	info, err := thumbnail.Probe(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	p := thumbnail.PlanFor(info.Width, info.Height, 30, 30, thumbnail.Scale)
	// A header whose size the image data does not have.
	lying := info
	lying.Width, lying.Height = 200, 100
	animatedWebP := append([]byte("RIFF\x1e\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x09\x00\x00\x09\x00\x00"),
		"ANIM\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00"...)
	animInfo, err := thumbnail.Probe(bytes.NewReader(animatedWebP))
	if err != nil || !animInfo.Animated {
		t.Fatalf("Probe(animated WebP) = %+v, %v", animInfo, err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		info thumbnail.Info
		p    thumbnail.Plan
		want error
	}{
		{"not an image", []byte("\x89PNG\r\n\x1a\nnot really"), info, p, thumbnail.ErrUnsupported},
		{"header and data disagree", pngData, lying, thumbnail.PlanFor(200, 100, 30, 30, thumbnail.Scale), thumbnail.ErrUnsupported},
		{"animated webp", animatedWebP, animInfo, thumbnail.PlanFor(10, 10, 5, 5, thumbnail.Scale), thumbnail.ErrUnsupported},
		{"too large", pngData, thumbnail.Info{Format: thumbnail.PNG, Width: 10000, Height: 10000},
			thumbnail.PlanFor(10000, 10000, 30, 30, thumbnail.Scale), thumbnail.ErrTooLarge},
	} {
		if _, err := thumbnail.Generate(bytes.NewReader(tt.data), tt.info, tt.p); !errors.Is(err, tt.want) {
			t.Errorf("Generate(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}
