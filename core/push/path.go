package push

import "strings"

// SplitPath splits a dot-separated property path (appendices, "Dot-separated
// property paths") into property names: a dot ends a name unless escaped
// as `\.`; `\\` stands for one backslash; any other backslash is kept
// literally with the character after it (`\x` is a backslash and an x).
//
//	SplitPath(`content.m\.relates_to.rel_type`) = ["content", "m.relates_to", "rel_type"]
func SplitPath(path string) []string {
	if !strings.ContainsRune(path, '\\') {
		return strings.Split(path, ".")
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\' && i+1 < len(path) && (path[i+1] == '.' || path[i+1] == '\\'):
			cur.WriteByte(path[i+1])
			i++
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

// JoinPath is the inverse of SplitPath: it escapes dots and backslashes in
// each name and joins the names with dots.
func JoinPath(names ...string) string {
	esc := strings.NewReplacer(`\`, `\\`, `.`, `\.`)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = esc.Replace(n)
	}
	return strings.Join(out, ".")
}
