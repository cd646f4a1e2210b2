package thumbnail_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hearth.dev/hearth/core/thumbnail"
)

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
)

// stripes is a w × h image in three vertical bands: red, green, blue.
func stripes(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := green
			if x < w/3 {
				c = red
			} else if x >= w-w/3 {
				c = blue
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// solid is a w × h image of one colour.
func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// encodeGIF encodes frames (each the whole w × h) as one GIF.
func encodeGIF(tb testing.TB, frames ...image.Image) []byte {
	tb.Helper()
	g := &gif.GIF{}
	for _, f := range frames {
		p := image.NewPaletted(f.Bounds(), palette.Plan9)
		for y := f.Bounds().Min.Y; y < f.Bounds().Max.Y; y++ {
			for x := f.Bounds().Min.X; x < f.Bounds().Max.X; x++ {
				p.Set(x, y, f.At(x, y))
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// withChunk inserts a PNG chunk right after IHDR (signature 8 bytes, IHDR
// 25 bytes), with a correct CRC.
func withChunk(pngData []byte, typ string, data []byte) []byte {
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(chunk, typ...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := append([]byte{}, pngData[:33]...)
	out = append(out, chunk...)
	return append(out, pngData[33:]...)
}

// hugePNG is a PNG header claiming w × h pixels, with a token IDAT.
func hugePNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	for _, c := range []struct {
		typ  string
		data []byte
	}{{"IHDR", ihdr}, {"IDAT", []byte{0x78, 0x9c}}} {
		chunk := binary.BigEndian.AppendUint32(nil, uint32(len(c.data)))
		chunk = append(chunk, c.typ...)
		chunk = append(chunk, c.data...)
		b = append(b, binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))...)
	}
	return b
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestProbe(t *testing.T) {
	still := stripes(30, 20)
	pngData := encodePNG(t, still)
	tests := []struct {
		name string
		data []byte
		want thumbnail.Info
		err  error
	}{
		{"png", pngData, thumbnail.Info{Format: thumbnail.PNG, Width: 30, Height: 20}, nil},
		{"apng", withChunk(pngData, "acTL", []byte{0, 0, 0, 2, 0, 0, 0, 0}),
			thumbnail.Info{Format: thumbnail.PNG, Width: 30, Height: 20, Animated: true}, nil},
		{"png with other chunk", withChunk(pngData, "tEXt", []byte("Comment\x00hi")),
			thumbnail.Info{Format: thumbnail.PNG, Width: 30, Height: 20}, nil},
		{"jpeg", encodeJPEG(t, still), thumbnail.Info{Format: thumbnail.JPEG, Width: 30, Height: 20}, nil},
		{"gif", encodeGIF(t, still), thumbnail.Info{Format: thumbnail.GIF, Width: 30, Height: 20}, nil},
		{"animated gif", encodeGIF(t, still, stripes(30, 20)),
			thumbnail.Info{Format: thumbnail.GIF, Width: 30, Height: 20, Animated: true}, nil},
		{"webp lossless", readTestdata(t, "gopher-doc.1bpp.lossless.webp"),
			thumbnail.Info{Format: thumbnail.WebP, Width: 75, Height: 100}, nil},
		{"webp lossy", readTestdata(t, "blue-purple-pink.lossy.webp"),
			thumbnail.Info{Format: thumbnail.WebP, Width: 150, Height: 100}, nil},
		{"huge png header", hugePNG(100000, 100000),
			thumbnail.Info{Format: thumbnail.PNG, Width: 100000, Height: 100000}, nil},
		{"text", []byte("hello, world"), thumbnail.Info{}, thumbnail.ErrUnsupported},
		{"empty", nil, thumbnail.Info{}, thumbnail.ErrUnsupported},
		{"truncated png", pngData[:20], thumbnail.Info{}, thumbnail.ErrUnsupported},
		{"zero-size png", hugePNG(0, 5), thumbnail.Info{}, thumbnail.ErrUnsupported},
		{"truncated jpeg", encodeJPEG(t, still)[:10], thumbnail.Info{}, thumbnail.ErrUnsupported},
	}
	for _, tt := range tests {
		got, err := thumbnail.Probe(bytes.NewReader(tt.data))
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Probe(%s) error = %v, want %v", tt.name, err, tt.err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Probe(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestBucket(t *testing.T) {
	tests := []struct {
		w, h   int
		m      thumbnail.Method
		ww, wh int
	}{
		{1, 1, thumbnail.Crop, 32, 32},
		{32, 32, thumbnail.Crop, 32, 32},
		{33, 33, thumbnail.Crop, 96, 96},
		{40, 30, thumbnail.Crop, 40, 30}, // no standard crop of that aspect
		{97, 97, thumbnail.Crop, 97, 97},
		{1, 1, thumbnail.Scale, 320, 240},
		{320, 240, thumbnail.Scale, 320, 240},
		{321, 10, thumbnail.Scale, 640, 480},
		{100, 500, thumbnail.Scale, 800, 600},
		{801, 1, thumbnail.Scale, 801, 1},
		{10, 601, thumbnail.Scale, 10, 601},
	}
	for _, tt := range tests {
		if w, h := thumbnail.Bucket(tt.w, tt.h, tt.m); w != tt.ww || h != tt.wh {
			t.Errorf("Bucket(%d, %d, %s) = %d, %d; want %d, %d", tt.w, tt.h, tt.m, w, h, tt.ww, tt.wh)
		}
	}
}

func TestPlanFor(t *testing.T) {
	rect := image.Rect
	plan := func(src image.Rectangle, w, h int) thumbnail.Plan {
		return thumbnail.Plan{Src: src, Width: w, Height: h}
	}
	const crop, scale = thumbnail.Crop, thumbnail.Scale
	tests := []struct {
		imgW, imgH, w, h int
		m                thumbnail.Method
		want             thumbnail.Plan
		identity         bool
	}{
		// scale: fit within the box, aspect kept, never upscaled
		{4000, 3000, 320, 240, scale, plan(rect(0, 0, 4000, 3000), 320, 240), false},
		{4000, 1000, 320, 240, scale, plan(rect(0, 0, 4000, 1000), 320, 80), false},
		{1000, 4000, 320, 240, scale, plan(rect(0, 0, 1000, 4000), 60, 240), false},
		{400, 100, 320, 240, scale, plan(rect(0, 0, 400, 100), 320, 80), false},
		{330, 100, 320, 240, scale, plan(rect(0, 0, 330, 100), 320, 97), false},
		{10000, 1, 100, 100, scale, plan(rect(0, 0, 10000, 1), 100, 1), false},
		{200, 100, 320, 240, scale, plan(rect(0, 0, 200, 100), 200, 100), true},
		{320, 240, 320, 240, scale, plan(rect(0, 0, 320, 240), 320, 240), true},
		// crop: the centred region of the requested aspect, scaled down to
		// the requested size, or left at its own size when smaller
		{4000, 3000, 96, 96, crop, plan(rect(500, 0, 3500, 3000), 96, 96), false},
		{300, 100, 50, 50, crop, plan(rect(100, 0, 200, 100), 50, 50), false},
		{1000, 1000, 100, 50, crop, plan(rect(0, 250, 1000, 750), 100, 50), false},
		{50, 100, 96, 96, crop, plan(rect(0, 25, 50, 75), 50, 50), false},
		{60, 60, 96, 32, crop, plan(rect(0, 20, 60, 40), 60, 20), false},
		{80, 80, 96, 96, crop, plan(rect(0, 0, 80, 80), 80, 80), true},
		{96, 96, 96, 96, crop, plan(rect(0, 0, 96, 96), 96, 96), true},
		// nonsense asks give the whole image
		{100, 100, 0, 10, scale, plan(rect(0, 0, 100, 100), 100, 100), true},
		{100, 100, 10, -1, crop, plan(rect(0, 0, 100, 100), 100, 100), true},
	}
	for _, tt := range tests {
		got := thumbnail.PlanFor(tt.imgW, tt.imgH, tt.w, tt.h, tt.m)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("PlanFor(%dx%d, %dx%d %s) (-want +got):\n%s", tt.imgW, tt.imgH, tt.w, tt.h, tt.m, diff)
		}
		if id := got.Identity(tt.imgW, tt.imgH); id != tt.identity {
			t.Errorf("PlanFor(%dx%d, %dx%d %s).Identity = %v, want %v", tt.imgW, tt.imgH, tt.w, tt.h, tt.m, id, tt.identity)
		}
		// Never upscaled, never larger than the region it shows.
		if got.Width > got.Src.Dx() || got.Height > got.Src.Dy() {
			t.Errorf("PlanFor(%dx%d, %dx%d %s) upscales: %+v", tt.imgW, tt.imgH, tt.w, tt.h, tt.m, got)
		}
	}
}

// near reports whether two colours differ by at most tol per channel.
func near(a, b color.Color, tol int) bool {
	ar, ag, ab, aa := a.RGBA()
	br, bg, bb, ba := b.RGBA()
	d := func(x, y uint32) bool { return abs(int(x>>8)-int(y>>8)) <= tol }
	return d(ar, br) && d(ag, bg) && d(ab, bb) && d(aa, ba)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestGenerate(t *testing.T) {
	src := stripes(300, 100)
	tests := []struct {
		name     string
		data     []byte
		w, h     int
		m        thumbnail.Method
		wantType string
		wantW    int
		wantH    int
		// colours expected at the left edge, centre and right edge
		left, centre, right color.Color
	}{
		{"png scale", encodePNG(t, src), 150, 150, thumbnail.Scale, "image/png", 150, 50, red, green, blue},
		{"png crop middle", encodePNG(t, src), 50, 50, thumbnail.Crop, "image/png", 50, 50, green, green, green},
		{"jpeg scale", encodeJPEG(t, src), 60, 60, thumbnail.Scale, "image/jpeg", 60, 20, red, green, blue},
		{"gif crop", encodeGIF(t, src), 30, 30, thumbnail.Crop, "image/png", 30, 30, green, green, green},
		{"animated gif, first frame", encodeGIF(t, src, solid(300, 100, blue)), 150, 150, thumbnail.Scale,
			"image/png", 150, 50, red, green, blue},
		{"same size re-encoded", encodeGIF(t, src), 300, 100, thumbnail.Scale, "image/png", 300, 100, red, green, blue},
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
				if got := img.At(c.x, y); !near(got, c.want, 60) {
					t.Errorf("pixel (%d, %d) = %v, want about %v", c.x, y, got, c.want)
				}
			}
		})
	}
}

func TestGenerateWebP(t *testing.T) {
	for _, name := range []string{"gopher-doc.1bpp.lossless.webp", "blue-purple-pink.lossy.webp"} {
		data := readTestdata(t, name)
		info, err := thumbnail.Probe(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Probe(%s): %v", name, err)
		}
		p := thumbnail.PlanFor(info.Width, info.Height, 32, 32, thumbnail.Crop)
		res, err := thumbnail.Generate(bytes.NewReader(data), info, p)
		if err != nil {
			t.Fatalf("Generate(%s): %v", name, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(res.Data))
		if err != nil {
			t.Fatalf("%s: thumbnail is not a PNG: %v", name, err)
		}
		if cfg.Width != 32 || cfg.Height != 32 {
			t.Errorf("%s: thumbnail is %dx%d, want 32x32", name, cfg.Width, cfg.Height)
		}
	}
}

func TestGenerateRefuses(t *testing.T) {
	huge := hugePNG(8000, 8000)
	info, err := thumbnail.Probe(bytes.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	p := thumbnail.PlanFor(info.Width, info.Height, 32, 32, thumbnail.Crop)
	if _, err := thumbnail.Generate(bytes.NewReader(huge), info, p); !errors.Is(err, thumbnail.ErrTooLarge) {
		t.Errorf("Generate(8000x8000) = %v, want ErrTooLarge", err)
	}

	data := encodePNG(t, stripes(30, 20))
	good, err := thumbnail.Probe(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		info thumbnail.Info
		plan thumbnail.Plan
	}{
		{"upscale", data, good, thumbnail.Plan{Src: image.Rect(0, 0, 30, 20), Width: 60, Height: 40}},
		{"region outside", data, good, thumbnail.Plan{Src: image.Rect(10, 10, 40, 30), Width: 5, Height: 5}},
		{"empty region", data, good, thumbnail.Plan{Src: image.Rect(5, 5, 5, 5), Width: 1, Height: 1}},
		{"zero size", data, good, thumbnail.Plan{Src: image.Rect(0, 0, 30, 20), Width: 0, Height: 5}},
		{"info disagrees", data, thumbnail.Info{Format: thumbnail.PNG, Width: 31, Height: 20},
			thumbnail.Plan{Src: image.Rect(0, 0, 31, 20), Width: 10, Height: 10}},
		{"corrupt data", data[:len(data)/2], good, thumbnail.Plan{Src: image.Rect(0, 0, 30, 20), Width: 10, Height: 10}},
	}
	for _, tt := range tests {
		if _, err := thumbnail.Generate(bytes.NewReader(tt.data), tt.info, tt.plan); !errors.Is(err, thumbnail.ErrUnsupported) {
			t.Errorf("Generate(%s) = %v, want ErrUnsupported", tt.name, err)
		}
	}
}

func BenchmarkGenerateJPEG4000x3000(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 31)
	}
	data := encodeJPEG(b, img)
	for _, size := range []struct {
		w, h int
		m    thumbnail.Method
	}{{96, 96, thumbnail.Crop}, {800, 600, thumbnail.Scale}} {
		b.Run(fmt.Sprintf("%dx%d-%s", size.w, size.h, size.m), func(b *testing.B) {
			for b.Loop() {
				info, err := thumbnail.Probe(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				p := thumbnail.PlanFor(info.Width, info.Height, size.w, size.h, size.m)
				if _, err := thumbnail.Generate(bytes.NewReader(data), info, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
