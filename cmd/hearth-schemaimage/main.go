// Command hearth-schemaimage writes hearth's schema image: a new database
// exactly as the migrator makes it (storage.SchemaImage), which the
// browser shell ships beside the wasm so that a first visit copies it into
// the tab's storage instead of creating the schema statement by statement
// (make builds it for web/build.mjs):
//
//	hearth-schemaimage -o FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"hearth.dev/hearth/storage"
)

func main() {
	out := flag.String("o", "", "the file to write")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: hearth-schemaimage -o FILE")
		os.Exit(2)
	}
	image, err := storage.SchemaImage(context.Background())
	if err == nil {
		err = os.WriteFile(*out, image, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hearth-schemaimage: %v\n", err)
		os.Exit(1)
	}
}
