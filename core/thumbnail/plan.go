package thumbnail

import "image"

// Method is a thumbnailing method of the client-server API.
type Method string

// The methods ("Thumbnails" in the content repository module):
//
//	"scale" maintains the original aspect ratio of the image
//	"crop" provides an image in the aspect ratio of the sizes given in the
//	request
const (
	Crop  Method = "crop"
	Scale Method = "scale"
)

// standardSizes are the thumbnails servers SHOULD produce, smallest first.
var standardSizes = []struct {
	w, h   int
	method Method
}{
	{32, 32, Crop},
	{96, 96, Crop},
	{320, 240, Scale},
	{640, 480, Scale},
	{800, 600, Scale},
}

// Bucket rounds a requested size up to the smallest of the spec's standard
// sizes that serves it: for scale, one at least as large both ways; for
// crop, one of the same aspect ratio at least as large. A request no
// standard size serves keeps its own size. Thumbnails are made and cached
// per bucket, so arbitrary sizes do not each cost a thumbnail; the result is
// never smaller than asked, as the spec requires.
func Bucket(w, h int, m Method) (int, int) {
	for _, s := range standardSizes {
		if s.method != m || s.w < w || s.h < h {
			continue
		}
		if m == Crop && int64(s.w)*int64(h) != int64(s.h)*int64(w) {
			continue
		}
		return s.w, s.h
	}
	return w, h
}

// Plan is a thumbnail to make: the region Src of the image, scaled to
// Width × Height.
type Plan struct {
	Src           image.Rectangle
	Width, Height int
}

// Identity says the plan is the whole image at its own size: the content
// itself can be the thumbnail.
func (p Plan) Identity(imgW, imgH int) bool {
	return p.Src == image.Rect(0, 0, imgW, imgH) && p.Width == imgW && p.Height == imgH
}

// PlanFor plans the thumbnail of an imgW × imgH image for a request of
// w × h by method m (anything but Crop is taken as Scale). It never
// upscales: an image no larger than asked is returned whole at its own size
// (or, for crop, the largest region of the requested aspect ratio, unscaled).
//
//	"scale" tries to return an image where either the width or the height
//	is smaller than the requested size.
//	"crop" tries to return an image where the width and height are close to
//	the requested size and the aspect matches the requested size.
func PlanFor(imgW, imgH, w, h int, m Method) Plan {
	whole := Plan{Src: image.Rect(0, 0, imgW, imgH), Width: imgW, Height: imgH}
	if imgW <= 0 || imgH <= 0 || w <= 0 || h <= 0 {
		return whole
	}
	iw, ih, rw, rh := int64(imgW), int64(imgH), int64(w), int64(h)
	if m != Crop {
		if rw >= iw && rh >= ih {
			return whole
		}
		// Fit within w × h, keeping the image's aspect ratio.
		var tw, th int64
		if iw*rh > ih*rw {
			tw, th = rw, max(1, (ih*rw+iw/2)/iw)
		} else {
			tw, th = max(1, (iw*rh+ih/2)/ih), rh
		}
		if tw > iw || th > ih || tw == iw && th == ih {
			return whole
		}
		return Plan{Src: whole.Src, Width: int(tw), Height: int(th)}
	}
	// The largest centred region with the requested aspect ratio.
	var cw, ch int64
	if iw*rh > ih*rw {
		cw, ch = min(iw, max(1, (ih*rw+rh/2)/rh)), ih
	} else {
		cw, ch = iw, min(ih, max(1, (iw*rh+rw/2)/rw))
	}
	x0, y0 := (iw-cw)/2, (ih-ch)/2
	src := image.Rect(int(x0), int(y0), int(x0+cw), int(y0+ch))
	if cw >= rw && ch >= rh {
		return Plan{Src: src, Width: w, Height: h}
	}
	return Plan{Src: src, Width: int(cw), Height: int(ch)}
}
