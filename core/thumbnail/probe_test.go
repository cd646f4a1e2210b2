package thumbnail_test

import (
	"bufio"
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/webp"

	"hearth.dev/hearth/core/thumbnail"
)

// These tests hold Probe's own JPEG and WebP header readers to the
// decoders Generate uses natively (image/jpeg, golang.org/x/image/webp):
// the same images accepted, at the same size. The readers exist so that the
// browser build needs no decoder at all.

// decoderConfig is what the native decoders say of data: its size, or ok
// false. It is how Probe read JPEG and WebP before it had readers of its
// own.
func decoderConfig(data []byte) (w, h int, ok bool) {
	var (
		cfg image.Config
		err error
	)
	br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		cfg, err = jpeg.DecodeConfig(br)
	case len(data) >= 16 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		cfg, err = webp.DecodeConfig(br)
	default:
		return 0, 0, false
	}
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, false
	}
	return cfg.Width, cfg.Height, true
}

// checkAgainstDecoders fails t when Probe and the decoders disagree on data
// (a JPEG or WebP by its magic).
func checkAgainstDecoders(t *testing.T, name string, data []byte) {
	t.Helper()
	w, h, ok := decoderConfig(data)
	info, err := thumbnail.Probe(bytes.NewReader(data))
	switch {
	case ok && err != nil:
		t.Errorf("%s: the decoder reads %dx%d, Probe fails: %v", name, w, h, err)
	case !ok && err == nil:
		t.Errorf("%s: the decoder refuses it, Probe reads %+v", name, info)
	case ok && (info.Width != w || info.Height != h):
		t.Errorf("%s: Probe reads %dx%d, the decoder %dx%d", name, info.Width, info.Height, w, h)
	}
}

// realImages are the JPEG and WebP test images of Go's image packages and
// of golang.org/x/image: baseline, progressive, truncated, CMYK, RGB,
// restart intervals, every subsampling; lossy, lossless, with alpha.
func realImages(tb testing.TB) map[string][]byte {
	tb.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		tb.Skip("needs the go command to find the test images")
	}
	var dirs []string
	for _, args := range [][]string{{"env", "GOROOT"}, {"list", "-m", "-f", "{{.Dir}}", "golang.org/x/image"}} {
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			tb.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		dir := strings.TrimSpace(string(out))
		if args[0] == "env" {
			dir = filepath.Join(dir, "src", "image")
		}
		dirs = append(dirs, filepath.Join(dir, "testdata"))
	}
	images := map[string][]byte{}
	for _, dir := range dirs {
		for _, pattern := range []string{"*.jpeg", "*.jpg", "*.webp"} {
			files, _ := filepath.Glob(filepath.Join(dir, pattern))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					tb.Fatal(err)
				}
				images[filepath.Base(f)] = b
			}
		}
	}
	if len(images) < 40 {
		tb.Fatalf("found %d test images in %v, want at least 40", len(images), dirs)
	}
	return images
}

func TestProbeAgainstDecoders(t *testing.T) {
	accepted := 0
	for name, data := range realImages(t) {
		checkAgainstDecoders(t, name, data)
		if _, _, ok := decoderConfig(data); ok {
			accepted++
		}
		// Every cut of the file: a truncated upload is refused or read
		// alike.
		for n := range min(len(data), 600) {
			checkAgainstDecoders(t, name+" cut", data[:n])
		}
	}
	if accepted < 40 {
		t.Errorf("the decoders accept %d of the test images, want at least 40", accepted)
	}
}

func TestProbeJPEGWebPCases(t *testing.T) {
	base := encodeJPEG(t, stripes(30, 20))
	sof := bytes.Index(base, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 in the encoded JPEG")
	}
	with := func(at int, seg ...byte) []byte {
		return append(append(append([]byte{}, base[:at]...), seg...), base[at:]...)
	}
	exif := []byte{0xff, 0xe1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 0x2a, 0, 0, 0, 8, 0, 0}
	tests := []struct {
		name string
		data []byte
	}{
		{"go jpeg", base},
		{"exif before the frame", with(2, exif...)},
		{"fill bytes before a marker", with(sof, 0xff, 0xff)},
		{"junk before a marker", with(sof, 1, 2, 3)},
		{"comment", with(sof, 0xff, 0xfe, 0x00, 0x04, 'h', 'i')},
		{"jfif app0 then truncated after the frame", with(2, 0xff, 0xe0, 0x00, 0x07, 'J', 'F', 'I', 'F', 0, 0)[:sof+10+19]},
		{"second frame header", with(sof, base[sof:sof+19]...)},
		{"lossless frame", append(append(append([]byte{}, base[:sof]...), 0xff, 0xc3), base[sof+2:]...)},
		{"eoi before the frame", with(2, 0xff, 0xd9)},
		{"scan before the frame", with(2, 0xff, 0xda, 0x00, 0x02)},
		{"short segment length", with(2, 0xff, 0xe1, 0x00, 0x01)},
		{"webp lossy", readTestdata(t, "blue-purple-pink.lossy.webp")},
		{"webp lossless", readTestdata(t, "gopher-doc.1bpp.lossless.webp")},
	}
	for _, tt := range tests {
		checkAgainstDecoders(t, tt.name, tt.data)
	}
	// Each byte of the headers changed in turn: each bit flipped, cleared,
	// set.
	for _, tt := range tests {
		for i := range min(len(tt.data), 200) {
			for _, x := range []byte{0x00, 0xff, 4, 5, tt.data[i] ^ 1, tt.data[i] ^ 2, tt.data[i] ^ 4, tt.data[i] ^ 8,
				tt.data[i] ^ 0x10, tt.data[i] ^ 0x20, tt.data[i] ^ 0x40, tt.data[i] ^ 0x80} {
				d := bytes.Clone(tt.data)
				d[i] = x
				checkAgainstDecoders(t, tt.name+" changed", d)
			}
		}
	}
}

// FuzzProbeJPEGWebP: on any bytes, Probe and the native decoders accept
// the same JPEG and WebP images at the same size, and Probe never panics.
func FuzzProbeJPEGWebP(f *testing.F) {
	f.Add(encodeJPEG(f, stripes(12, 7)))
	f.Add(readTestdata(f, "gopher-doc.1bpp.lossless.webp"))
	f.Add(readTestdata(f, "blue-purple-pink.lossy.webp"))
	for name, data := range realImages(f) {
		if len(data) < 64<<10 && !strings.Contains(name, "large") {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstDecoders(t, "input", data)
		if _, err := thumbnail.Probe(bytes.NewReader(data)); err != nil && !errors.Is(err, thumbnail.ErrUnsupported) {
			t.Fatalf("Probe failed with %v, want ErrUnsupported", err)
		}
	})
}
