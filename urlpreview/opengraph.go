package urlpreview

import (
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// maxOGValue bounds one OpenGraph value (Synapse cuts descriptions at
// 500 characters; titles and URLs are shorter in practice).
const maxOGValue = 1000

// parseHTML reads an HTML document and returns its OpenGraph properties
// (meta property="og:*", also the name= form some sites use), with
// og:title falling back to <title> and og:description to the
// description meta tag. A relative og:image is resolved against base.
func parseHTML(r io.Reader, base *url.URL) map[string]string {
	og := map[string]string{}
	doc, err := html.Parse(r)
	if err != nil {
		return og
	}
	var title, description string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "meta":
				var prop, name, content string
				hasContent := false
				for _, a := range n.Attr {
					switch strings.ToLower(a.Key) {
					case "property":
						prop = strings.ToLower(strings.TrimSpace(a.Val))
					case "name":
						name = strings.ToLower(strings.TrimSpace(a.Val))
					case "content":
						content, hasContent = a.Val, true
					}
				}
				content = strings.TrimSpace(content)
				if !hasContent || content == "" {
					break
				}
				key := prop
				if !strings.HasPrefix(key, "og:") {
					key = name
				}
				if strings.HasPrefix(key, "og:") {
					if _, dup := og[key]; !dup {
						og[key] = clip(content)
					}
				} else if name == "description" && description == "" {
					description = clip(content)
				}
			case "title":
				if title == "" && n.FirstChild != nil && n.FirstChild.Type == html.TextNode {
					title = clip(strings.TrimSpace(n.FirstChild.Data))
				}
			case "svg", "math":
				return // <title> inside these is not the page's
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if og["og:title"] == "" && title != "" {
		og["og:title"] = title
	}
	if og["og:description"] == "" && description != "" {
		og["og:description"] = description
	}
	if img := og["og:image"]; img != "" {
		if u, err := base.Parse(img); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			og["og:image"] = u.String()
		} else {
			delete(og, "og:image")
		}
	}
	return og
}

// clip cuts s to at most maxOGValue bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxOGValue {
		return s
	}
	cut := 0
	for i := range s {
		if i > maxOGValue {
			break
		}
		cut = i
	}
	return s[:cut] + "…"
}
