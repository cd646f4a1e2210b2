package main

import (
	"bytes"
	"encoding/binary"
	"syscall/js"

	"hearth.dev/hearth/core/thumbnail"
	"hearth.dev/hearth/wasm/jsvfs"
)

// The tab makes thumbnails with the browser's image code, so Go's image
// decoders and encoders stay out of the module (about 1 MB of it raw).
func init() { thumbnail.BrowserRender = renderThumbnail }

// renderThumbnail decodes data with createImageBitmap, draws p.Src of it
// scaled to p.Width × p.Height on an OffscreenCanvas and encodes that with
// convertToBlob as out (both exist in a dedicated worker). The image is
// decoded as Go's decoders decode it: its colour profile is not applied,
// nor its EXIF orientation (the browser applies it whatever
// createImageBitmap is asked, so it is set to "normal" in data first:
// noOrientation), so its size is its header's (Probe's); an image the
// browser decodes to another size is refused, as natively.
func renderThumbnail(data []byte, info thumbnail.Info, p thumbnail.Plan, out thumbnail.Format, quality int) ([]byte, error) {
	g := js.Global()
	if g.Get("createImageBitmap").Type() != js.TypeFunction || g.Get("OffscreenCanvas").Type() != js.TypeFunction {
		return nil, thumbnail.ErrUnsupported
	}
	noOrientation(data, info.Format)
	src := g.Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(src, data)
	blob := g.Get("Blob").New([]any{src}, map[string]any{"type": info.Format.ContentType()})
	bitmap, err := jsvfs.Await(g, "createImageBitmap", blob, map[string]any{
		"imageOrientation":     "none",
		"colorSpaceConversion": "none",
	})
	if err != nil {
		return nil, thumbnail.ErrUnsupported // the browser cannot decode it
	}
	defer bitmap.Call("close")
	if bitmap.Get("width").Int() != info.Width || bitmap.Get("height").Int() != info.Height {
		return nil, thumbnail.ErrUnsupported
	}
	canvas := g.Get("OffscreenCanvas").New(p.Width, p.Height)
	ctx, err := jsvfs.Call(canvas, "getContext", "2d")
	if err != nil || ctx.IsNull() {
		return nil, thumbnail.ErrUnsupported
	}
	ctx.Set("imageSmoothingQuality", "high")
	if _, err := jsvfs.Call(ctx, "drawImage", bitmap, p.Src.Min.X, p.Src.Min.Y, p.Src.Dx(), p.Src.Dy(), 0, 0, p.Width, p.Height); err != nil {
		return nil, thumbnail.ErrUnsupported
	}
	encoded, err := jsvfs.Await(canvas, "convertToBlob", map[string]any{"type": out.ContentType(), "quality": float64(quality) / 100})
	if err != nil {
		return nil, err
	}
	if encoded.Get("type").String() != out.ContentType() {
		return nil, thumbnail.ErrUnsupported // the browser cannot encode it
	}
	buf, err := jsvfs.Await(encoded, "arrayBuffer")
	if err != nil {
		return nil, err
	}
	arr := g.Get("Uint8Array").New(buf)
	res := make([]byte, arr.Get("length").Int())
	js.CopyBytesToGo(res, arr)
	return res, nil
}

// noOrientation sets the EXIF orientation of an image to 1 ("normal") in
// place: in a JPEG's APP1 "Exif" segments before its first scan, a PNG's
// eXIf chunk, a WebP's EXIF chunk. Anything it cannot follow it leaves.
func noOrientation(data []byte, f thumbnail.Format) {
	switch f {
	case thumbnail.JPEG:
		for i := 2; i+4 <= len(data) && data[i] == 0xff; {
			marker, n := data[i+1], int(binary.BigEndian.Uint16(data[i+2:]))
			if marker == 0xda || marker == 0xd9 || n < 2 || i+2+n > len(data) {
				return
			}
			if seg := data[i+4 : i+2+n]; marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				tiffOrientationNormal(seg[6:])
			}
			i += 2 + n
		}
	case thumbnail.PNG:
		for i := 8; i+12 <= len(data); {
			n := int(binary.BigEndian.Uint32(data[i:]))
			if n < 0 || n > len(data)-i-12 {
				return
			}
			if string(data[i+4:i+8]) == "eXIf" {
				tiffOrientationNormal(data[i+8 : i+8+n])
				// The chunk's CRC no longer matches: browsers drop a bad
				// ancillary chunk, which is what is wanted.
			}
			i += 12 + n
		}
	case thumbnail.WebP:
		for i := 12; i+8 <= len(data); {
			n := int(binary.LittleEndian.Uint32(data[i+4:]))
			if n < 0 || n > len(data)-i-8 {
				return
			}
			if string(data[i:i+4]) == "EXIF" {
				chunk := data[i+8 : i+8+n]
				tiffOrientationNormal(bytes.TrimPrefix(chunk, []byte("Exif\x00\x00")))
			}
			i += 8 + n + n&1
		}
	}
}

// tiffOrientationNormal sets the Orientation entry (tag 0x0112) of the
// first IFD of a TIFF block to 1.
func tiffOrientationNormal(tiff []byte) {
	if len(tiff) < 8 {
		return
	}
	var order binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return
	}
	ifd := int64(order.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > int64(len(tiff)) {
		return
	}
	count := int64(order.Uint16(tiff[ifd:]))
	for e := ifd + 2; e+12 <= int64(len(tiff)) && e < ifd+2+12*count; e += 12 {
		if order.Uint16(tiff[e:]) == 0x0112 && order.Uint16(tiff[e+2:]) == 3 { // SHORT
			order.PutUint16(tiff[e+8:], 1)
			return
		}
	}
}
