package hearth

import (
	"reflect"
	"testing"
)

// TestDefaultsWithoutYAML: the browser build's reading of the default
// configuration (without a YAML parser) gives what YAML gives.
func TestDefaultsWithoutYAML(t *testing.T) {
	got, err := defaultsOf(DefaultConfigYAML)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("defaultsOf(default-config.yaml) =\n%+v\nYAML reads\n%+v", got, want)
	}
	if _, err := defaultsOf("media:\n  no_such_key: 1\n"); err == nil {
		t.Fatal("defaultsOf took an unknown key")
	}
}
