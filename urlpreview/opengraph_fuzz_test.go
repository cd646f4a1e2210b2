package urlpreview

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseHTML: any document parses without panicking; values are
// bounded and, for valid UTF-8 input, valid UTF-8; og:image is absolute
// http(s).
func FuzzParseHTML(f *testing.F) {
	for _, s := range []string{
		`<html><head><title>t</title><meta property="og:title" content="x"></head></html>`,
		`<meta property="og:image" content="//cdn.example/i.png"><meta name="description" content="d">`,
		`<meta property="og:image" content="javascript:alert(1)">`,
		`<title>` + strings.Repeat("é", 2000) + `</title>`,
		`<svg><title>no</title></svg><title>yes</title>`,
		"<meta property=og:title content='\xff\xfe'>",
		``,
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://example.org/a/b")
	f.Fuzz(func(t *testing.T, doc string) {
		og := parseHTML(strings.NewReader(doc), base)
		for k, v := range og {
			if len(v) > maxOGValue+len("…") {
				t.Errorf("%s is %d bytes", k, len(v))
			}
			if utf8.ValidString(doc) && !utf8.ValidString(v) {
				t.Errorf("%s = %q is not UTF-8", k, v)
			}
		}
		if img, ok := og["og:image"]; ok {
			u, err := url.Parse(img)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				t.Errorf("og:image %q", img)
			}
		}
	})
}

func TestParseHTML(t *testing.T) {
	base, _ := url.Parse("https://example.org/a/b")
	og := parseHTML(strings.NewReader(`<title>T</title><meta property="og:image" content="../i.png"><meta property="og:title" content="">`), base)
	if og["og:image"] != "https://example.org/i.png" {
		t.Errorf("og:image %q, want it resolved against the page", og["og:image"])
	}
	if og["og:title"] != "T" {
		t.Errorf("og:title %q, want the <title> for an empty og:title", og["og:title"])
	}
}
