# hearth — see README.md. `make run` starts a homeserver; `make test` installs
# what the tests need and runs them all.

GO        ?= go
GOROOT    := $(shell $(GO) env GOROOT)
WASMEXEC  := $(GOROOT)/lib/wasm
# js/wasm builds use SQLite's dot-file locking (ncruces sqlite3_dotlk tag),
# so WAL works on real files under Node; in the browser hearth brings its own
# VFS (wasm/opfs, wasm/idb).
JSTAGS    := sqlite3_dotlk
export CGO_ENABLED := 0

.PHONY: all build run test bench wasm vet test-go test-js test-browser deps-browser clean

all: build

build:
	mkdir -p bin
	$(GO) build -o bin/hearth ./cmd/hearth

run: build
	./bin/hearth serve $(ARGS)

wasm:
	mkdir -p bin
	GOOS=js GOARCH=wasm $(GO) build -tags $(JSTAGS) -o bin/hearth.wasm ./wasm

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet -tags $(JSTAGS) ./wasm/... ./storage/...

test: vet test-go test-js
	$(GO) build ./...
	GOOS=js GOARCH=wasm $(GO) build ./wasm/...
	GOOS=js GOARCH=wasm $(GO) build -tags $(JSTAGS) ./wasm/...

test-go:
	$(GO) test ./...

# The storage engine's suite again, compiled to js/wasm and run by Node.
test-js:
	PATH="$(WASMEXEC):$$PATH" GOOS=js GOARCH=wasm $(GO) test -tags $(JSTAGS) ./storage/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
