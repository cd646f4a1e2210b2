package web

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// openAPIDir holds the spec's OpenAPI files of the endpoints tested here.
const openAPIDir = "testdata/openapi"

// openAPI checks JSON responses against the spec's OpenAPI schemas: type,
// required, properties, patternProperties, additionalProperties, items,
// enum, allOf and oneOf, following $ref across files. That is enough for
// the subset of JSON Schema the client-server API files use.
type openAPI struct {
	mu    sync.Mutex
	files map[string]map[string]any
}

var specSchemas = &openAPI{files: map[string]map[string]any{}}

func (o *openAPI) file(tb testing.TB, name string) map[string]any {
	tb.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if f, ok := o.files[name]; ok {
		return f
	}
	b, err := os.ReadFile(path.Join(openAPIDir, name))
	if err != nil {
		tb.Fatalf("OpenAPI file: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		tb.Fatalf("OpenAPI file %s: %v", name, err)
	}
	o.files[name] = doc
	return doc
}

// checkResponse checks body, the JSON answer to method on apiPath
// (as written in the spec, e.g. "/keys/upload") with status, against file's
// schema. It fails tb with every mismatch.
func (o *openAPI) checkResponse(tb testing.TB, file, method, apiPath string, status int, body []byte) {
	tb.Helper()
	doc := o.file(tb, file)
	op, ok := dig(doc, "paths", apiPath, strings.ToLower(method))
	if !ok {
		tb.Fatalf("%s has no %s %s", file, method, apiPath)
	}
	schema, ok := dig(op, "responses", strconv.Itoa(status), "content", "application/json", "schema")
	if !ok {
		tb.Errorf("%s %s: the spec describes no %d response", method, apiPath, status)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("%s %s: response is not JSON: %v", method, apiPath, err)
	}
	for _, p := range o.check(tb, file, schema.(map[string]any), v, "$") {
		tb.Errorf("%s %s %d: %s\nbody: %s", method, apiPath, status, p, body)
	}
}

// dig follows keys through nested maps.
func dig(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// resolve follows a $ref relative to file.
func (o *openAPI) resolve(tb testing.TB, file, ref string) (string, map[string]any) {
	tb.Helper()
	target, frag, _ := strings.Cut(ref, "#")
	if target != "" {
		file = path.Join(path.Dir(file), target)
	}
	var v any = o.file(tb, file)
	if frag != "" {
		var ok bool
		if v, ok = dig(v, strings.Split(strings.TrimPrefix(frag, "/"), "/")...); !ok {
			tb.Fatalf("unresolvable $ref %s in %s", ref, file)
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		tb.Fatalf("$ref %s in %s is not a schema", ref, file)
	}
	return file, m
}

// check returns the ways v does not match schema (read from file).
func (o *openAPI) check(tb testing.TB, file string, schema map[string]any, v any, at string) []string {
	if ref, ok := schema["$ref"].(string); ok {
		f, s := o.resolve(tb, file, ref)
		return o.check(tb, f, s, v, at)
	}
	var probs []string
	for _, sub := range asList(schema["allOf"]) {
		probs = append(probs, o.check(tb, file, sub.(map[string]any), v, at)...)
	}
	if one := asList(schema["oneOf"]); len(one) > 0 {
		matched := false
		for _, sub := range one {
			if len(o.check(tb, file, sub.(map[string]any), v, at)) == 0 {
				matched = true
				break
			}
		}
		if !matched {
			probs = append(probs, at+": matches none of oneOf")
		}
	}
	if typ, ok := schema["type"].(string); ok && !hasType(v, typ) {
		return append(probs, fmt.Sprintf("%s: %T is not of type %s", at, v, typ))
	}
	if enum := asList(schema["enum"]); len(enum) > 0 && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		probs = append(probs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	switch val := v.(type) {
	case map[string]any:
		for _, r := range asList(schema["required"]) {
			if _, ok := val[r.(string)]; !ok {
				probs = append(probs, fmt.Sprintf("%s: required %q missing", at, r))
			}
		}
		props, _ := schema["properties"].(map[string]any)
		patterns, _ := schema["patternProperties"].(map[string]any)
		for k, item := range val {
			where := at + "." + k
			if ps, ok := props[k].(map[string]any); ok {
				probs = append(probs, o.check(tb, file, ps, item, where)...)
				continue
			}
			matched := false
			for pat, ps := range patterns {
				if regexp.MustCompile(pat).MatchString(k) {
					matched = true
					probs = append(probs, o.check(tb, file, ps.(map[string]any), item, where)...)
				}
			}
			if matched {
				continue
			}
			if ap, ok := schema["additionalProperties"].(map[string]any); ok {
				probs = append(probs, o.check(tb, file, ap, item, where)...)
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range val {
				probs = append(probs, o.check(tb, file, items, item, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return probs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	}
	return true
}

// TestOpenAPICheckerFails makes sure the checker catches what it should, so
// a passing endpoint test means something.
func TestOpenAPICheckerFails(t *testing.T) {
	tests := []struct {
		name, file, method, path string
		status                   int
		body                     string
		wantProblems             bool
	}{
		{"valid upload answer", "keys.yaml", "POST", "/keys/upload", 200, `{"one_time_key_counts":{"signed_curve25519":2}}`, false},
		{"missing required", "keys.yaml", "POST", "/keys/upload", 200, `{}`, true},
		{"wrong inner type", "keys.yaml", "POST", "/keys/upload", 200, `{"one_time_key_counts":{"x":"2"}}`, true},
		{"non-integer count", "keys.yaml", "POST", "/keys/upload", 200, `{"one_time_key_counts":{"x":1.5}}`, true},
		{"device keys via $ref", "keys.yaml", "POST", "/keys/query", 200, `{"device_keys":{"@a:x":{"D":{"user_id":"@a:x"}}}}`, true},
		{"cross-signing key via allOf", "keys.yaml", "POST", "/keys/query", 200, `{"master_keys":{"@a:x":{"user_id":"@a:x","usage":["master"]}}}`, true},
		{"one-time key oneOf", "keys.yaml", "POST", "/keys/claim", 200, `{"one_time_keys":{"@a:x":{"D":{"a:b":{"key":"k"}}}}}`, true},
		{"one-time key oneOf ok", "keys.yaml", "POST", "/keys/claim", 200, `{"one_time_keys":{"@a:x":{"D":{"a:b":{"key":"k","signatures":{}},"c:d":"k"}}}}`, false},
		{"components $ref", "key_backup.yaml", "PUT", "/room_keys/keys", 200, `{"etag":"1"}`, true},
		{"error via files", "key_backup.yaml", "GET", "/room_keys/version", 404, `{"error":"x"}`, true},
		{"enum", "key_backup.yaml", "GET", "/room_keys/version", 200, `{"algorithm":"other","auth_data":{},"count":0,"etag":"0","version":"1"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &problemRecorder{TB: t}
			specSchemas.checkResponse(rec, tt.file, tt.method, tt.path, tt.status, []byte(tt.body))
			if rec.failed != tt.wantProblems {
				t.Errorf("checker reported problems = %v, want %v (%v)", rec.failed, tt.wantProblems, rec.msgs)
			}
		})
	}
}

// problemRecorder records Errorf calls instead of failing the test.
type problemRecorder struct {
	testing.TB
	failed bool
	msgs   []string
}

func (p *problemRecorder) Errorf(format string, args ...any) {
	p.failed = true
	p.msgs = append(p.msgs, fmt.Sprintf(format, args...))
}

func (p *problemRecorder) Helper() {}
