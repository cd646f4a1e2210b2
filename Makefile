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

.PHONY: soak client-deps test-clients federation-deps test-federation test-federation-full appservice-deps test-appservice all build run test bench wasm vet tidy-check test-go test-js test-browser test-browser-storage browser-deps bench-browser clean web-dist test-browser-shell bench-browser-shell bench-browser-memory test-browser-relay test-browser-fetch wasm-size

all: build

# bin/hearth leaves out the symbol table and DWARF (-s -w): a third smaller;
# panics and profiles still name functions and lines (pclntab stays).
build: web-dist
	mkdir -p bin/modules
	$(GO) build -ldflags="-s -w" -o bin/hearth ./cmd/hearth
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o bin/modules/keyword-filter.wasm ./examples/modules/keyword-filter
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o bin/modules/invite-policy.wasm ./examples/modules/invite-policy

# The browser shell (web/dist, for static hosting): the wasm build of ./wasm,
# the schema image a first visit starts its database from, and the page,
# worker, service worker and hearth.js bundled by web/build.mjs (esbuild
# from web/package.json), each with .br and .gz forms; and
# web/embedded, each file once (its .br form where it has one), which package
# web embeds into bin/hearth. Rebuilt when a Go source or a file of web/ui
# changes.
SHELL_GO  := $(shell find . -path ./test -prune -o -path '*/node_modules' -prune -o \( -name '*.go' -o -name '*.sql' -o -name '*.yaml' -o -path './modules/*.js' \) -not -name '*_test.go' -print) go.mod go.sum
SHELL_UI  := $(wildcard web/ui/*) web/build.mjs web/package-lock.json

web-dist: web/dist/index.html

web/dist/index.html: bin/shell.wasm bin/schema-image.db $(SHELL_UI) web/node_modules/.package-lock.json
	node web/build.mjs --wasm bin/shell.wasm --schema-image bin/schema-image.db --out web/dist --embed web/embedded --goroot $(GOROOT)

# The schema image: a new database exactly as the migrator makes it, which a
# tab's first visit copies into its storage (storage/schemaimage.go).
bin/schema-image.db: $(SHELL_GO)
	mkdir -p bin
	$(GO) run ./cmd/hearth-schemaimage -o $@

# The browser build is not run through wasm-opt (Debian's binaryen 108):
# measured on this build (37.1 MB raw, 6.56 MB brotli), `wasm-opt -O` took
# 8 GB of memory and about 11 CPU-minutes and cut the raw size by 4.3 % but
# made the brotli form 0.5 % larger (gzip 1.2 % smaller); what browsers
# download would not shrink. Again on the build without net/http's
# Transport (32.8 MB raw, 5.83 MB brotli), `wasm-opt -O1` (bulk memory,
# sign-ext, non-trapping float-to-int enabled; 136 CPU-seconds, 0.7 GB):
# raw -0.7 %, gzip -1.5 %, brotli +0.15 %. Native-only code kept out of the
# wasm is listed by TestBrowserBuildDeps (jsdeps_test.go), which also
# checks the code the linker keeps.
bin/shell.wasm: $(SHELL_GO)
	mkdir -p bin
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $@ ./wasm

# What takes the space in the browser build: code by package, the data
# section by region, each with its brotli size alone (test/wasmsize; the
# wasm is built with its name section, which bin/shell.wasm leaves out).
wasm-size:
	mkdir -p bin
	GOOS=js GOARCH=wasm $(GO) build -trimpath -o bin/shell-names.wasm ./wasm
	$(GO) run ./test/wasmsize -wasm bin/shell-names.wasm -top 60 -brotli

web/node_modules/.package-lock.json: web/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || \
	  (echo "the browser shell needs Node >= 20 with npm (found $$(node --version))" >&2; exit 1)
	npm ci --prefix web --no-audit --no-fund

run: build
	./bin/hearth serve $(ARGS)

wasm:
	mkdir -p bin
	GOOS=js GOARCH=wasm $(GO) build -tags $(JSTAGS) -o bin/hearth.wasm ./wasm

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet -tags $(JSTAGS) ./wasm/... ./storage/...

# go.mod and go.sum say exactly what the code imports (no stale or
# mislabelled requirements): `go mod tidy` would change nothing.
tidy-check:
	$(GO) mod tidy -diff

test: tidy-check vet test-go test-js test-browser test-browser-fetch test-browser-storage test-clients test-browser-shell test-federation test-browser-relay test-appservice
	$(GO) build ./...
	GOOS=js GOARCH=wasm $(GO) build ./wasm/...
	GOOS=js GOARCH=wasm $(GO) build -tags $(JSTAGS) ./wasm/...

test-go:
	$(GO) test ./...

# The storage engine's suite and the relay frames again, compiled to js/wasm and run by Node.
test-js:
	PATH="$(WASMEXEC):$$PATH" GOOS=js GOARCH=wasm $(GO) test -tags $(JSTAGS) ./storage/... ./relay/ ./core/slidingsync/

# Browser tests: Debian's chromium (installed when missing; never a
# downloaded browser) driven by playwright-core from test/browser.
WASMTEST ?= $(CURDIR)/.cache/wasmtest
BROWSER_RUN = node test/browser/run-go-test.mjs

browser-deps:
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	npm ci --prefix test/browser --no-audit --no-fund

# The browser VFSes (wasm/opfs, wasm/idb) in a Chromium worker, including
# persistence across a browser restart and a killed worker.
test-browser: browser-deps
	mkdir -p $(WASMTEST)
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/opfs ./wasm/idb ./test/browser/vfstest ./test/browser/harnesstest
	node --test test/browser/harness.test.mjs
	GOOS=js GOARCH=wasm $(GO) test -c -o $(WASMTEST)/opfs.test.wasm ./wasm/opfs
	GOOS=js GOARCH=wasm $(GO) test -c -o $(WASMTEST)/idb.test.wasm ./wasm/idb
	for v in opfs idb; do \
	  $(BROWSER_RUN) $(WASMTEST)/$$v.test.wasm -test.v && \
	  $(BROWSER_RUN) --phases write,verify,crash,crash-verify --restart-browser $(WASMTEST)/$$v.test.wasm -test.v -test.run TestPhase && \
	  $(BROWSER_RUN) --phases crash,crash-verify $(WASMTEST)/$$v.test.wasm -test.v -test.run TestPhase || exit 1; \
	done

# The tab's outbound HTTP client (internal/httpout on the browser's fetch,
# which keeps net/http's Transport and crypto/tls out of the wasm) in a
# Chromium worker against a loopback server of another origin.
test-browser-fetch: browser-deps
	node --test test/browser/fetch.test.mjs

# The storage engine's suite in a Chromium worker on each browser VFS.
test-browser-storage: browser-deps
	mkdir -p $(WASMTEST)
	GOOS=js GOARCH=wasm $(GO) test -c -o $(WASMTEST)/storage.test.wasm ./storage
	$(BROWSER_RUN) --env HEARTH_TEST_VFS=opfs $(WASMTEST)/storage.test.wasm
	$(BROWSER_RUN) --env HEARTH_TEST_VFS=idb $(WASMTEST)/storage.test.wasm

# The browser host: the wasm package's tests in a Chromium worker (OPFS,
# IndexedDB and memory storage, the JS bridge, export and import), then the
# Hearth JS API, the service worker and the page shell driven in Chromium
# against bin/hearth serve, with exports read back by a native hearth.
test-browser-shell: build browser-deps
	mkdir -p $(WASMTEST)
	GOOS=js GOARCH=wasm $(GO) vet ./wasm
	GOOS=js GOARCH=wasm $(GO) test -c -o $(WASMTEST)/wasm.test.wasm ./wasm
	$(BROWSER_RUN) $(WASMTEST)/wasm.test.wasm -test.v
	node --test --test-concurrency=1 test/browser/shell-api.test.mjs test/browser/shell.test.mjs test/browser/shell-host.test.mjs test/browser/shell-reload.test.mjs test/browser/modules.test.mjs

# Issue 11's browser test: a tab's homeserver (OPFS) behind `hearth relay`
# (wss://, a test CA from Debian's openssl) federating with a native hearth,
# matrix-js-sdk (test/clients) on the native side.
test-browser-relay: build browser-deps client-deps
	node --test test/browser/relay.test.mjs

# Sizes, start times, send rates and memory of the browser host against
# native hearth (a measurement, printed; nothing is asserted).
bench-browser-shell: build browser-deps
	node test/browser/shell-bench.mjs

# What the tab's renderer holds once idle, by allocator (Chromium's memory
# dump), and what a full collection would free.
bench-browser-memory: build browser-deps
	node test/browser/shell-memory.mjs --gc

bench-browser: test-browser
	for v in opfs idb; do $(BROWSER_RUN) $(WASMTEST)/$$v.test.wasm -test.run '^$$' -test.bench . -test.benchtime 2000x || exit 1; done

# Real clients against a real `hearth serve` on 127.0.0.1: matrix-js-sdk
# (npm, pinned) and Debian's matrix-nio (run by /usr/bin/python3, where
# Debian's python3-* packages load), plus the independent event checks
# (python3-signedjson and friends).
CLIENT_PY := python3-matrix-nio python3-signedjson python3-canonicaljson python3-unpaddedbase64 python3-nacl

client-deps:
	/usr/bin/python3 -c 'import nio, signedjson, canonicaljson, unpaddedbase64, nacl' 2>/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(CLIENT_PY))
	npm ci --prefix test/clients --no-audit --no-fund

test-clients: build client-deps
	node test/clients/run.mjs

# Federation on loopback with TLS from a test CA (Debian's openssl):
# test/federation/peer.py, an independent server on python3-signedjson,
# -canonicaljson and -nacl, against itself and against hearth; and two hearths
# driven by matrix-js-sdk (test/federation/run.mjs). test-federation runs the
# steps that pass today (FED_PEER_STEPS, FED_SERVER_STEPS); test-federation-full
# runs them all and reports each.
FED_PEER_STEPS := keys version notary_query request_auth transaction_limits_and_replay \
  hearth_serves_queries hearth_joins_peer_room_v10 hearth_joins_peer_room_v11 \
  hearth_joins_peer_room_v12 peer_message_reaches_hearth send_answers_every_pdu hearth_message_reaches_peer \
  peer_edus_reach_hearth hearth_fetches_missing_events hearth_fills_a_gap_with_state hearth_serves_user_keys \
  to_device_from_peer to_device_to_peer device_list_to_peer presence_to_peer device_list_from_peer peer_knocks peer_joins_restricted_room \
  hearth_queries_peer hearth_edus_reach_peer hearth_backfills_from_peer \
  peer_joins_hearth_room_v10 peer_joins_hearth_room_v11 peer_joins_hearth_room_v12 \
  messages_both_ways_in_hearth_room refuses_forged_signature refuses_unsigned_event \
  redacts_wrong_content_hash refuses_wrong_origin refuses_sender_of_other_server \
  refuses_failed_auth refuses_oversized_event refuses_non_canonical_json serves_event serves_state_ids_and_state serves_event_auth \
  serves_backfill serves_missing_events serves_timestamp_to_event peer_leaves_hearth_room invite_from_hearth \
  server_acl_shuts_the_peer_out peer_invites_hearth create_room_invites_remote peer_saw_only_valid_traffic
FED_SERVER_STEPS := register create_invite_join messages_both_ways state redaction typing receipts \
  profile public_directory remote_media leave_and_rejoin encrypted_message partition fork
fed_comma := ,
fed_space := $(subst ,, )

federation-deps: client-deps
	command -v openssl >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y openssl)

test-federation: build federation-deps
	node test/federation/run.mjs --peer-steps $(subst $(fed_space),$(fed_comma),$(strip $(FED_PEER_STEPS))) \
	  --server-steps $(subst $(fed_space),$(fed_comma),$(strip $(FED_SERVER_STEPS)))

test-federation-full: build federation-deps
	node test/federation/run.mjs

# A real application service against a real `hearth serve` on 127.0.0.1:
# an echo bridge on matrix-appservice-bridge (npm, pinned; its Rust crypto
# bindings, which it loads but the bridge never uses, stand in as
# test/appservice/no-crypto) that registers ghosts, is invited by a user,
# echoes each message through a ghost, answers user and alias queries,
# lists the rooms it creates in its network's directory, serves its
# protocol's third-party lookups and receives typing and receipts
# (receive_ephemeral).
appservice-deps:
	npm ci --prefix test/appservice --no-audit --no-fund

test-appservice: build appservice-deps
	node --test test/appservice/echo.test.mjs

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) build -o bin/hearth-load ./cmd/hearth-load
	test/load/run.sh --messages 2000

# A long mixed load (a benchmark, not part of `make test`): 8 clients of one
# user sending, syncing, paging, typing, uploading, searching, creating rooms
# and asking for devices and keys for SOAK_MINUTES, with ops/s, p50/p99 per
# kind, the server's RSS and the database's size printed every minute, and the
# first five minutes compared with the last five at the end.
SOAK_MINUTES ?= 30
soak: build
	$(GO) build -o bin/hearth-load ./cmd/hearth-load
	test/load/run.sh --soak $(SOAK_MINUTES)m

clean:
	rm -rf bin
	find web/dist web/embedded -mindepth 1 ! -name README.md ! -name .gitignore -delete
