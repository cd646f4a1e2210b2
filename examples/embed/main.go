// Command embed shows how an app embeds hearth: it opens a homeserver on
// its own data folder with hearth.Open, serves the client-server API on a
// loopback listener it chooses, and shuts down cleanly on SIGINT or
// SIGTERM (the HTTP server drains, then the homeserver closes its
// database and lets its data folder go).
//
//	go run ./examples/embed -data ./embed-data -listen 127.0.0.1:0
//
// It prints "serving http://ADDR" once the API answers there, and
// "stopped" once everything is closed. With EMBED_OWNER_PASSWORD set, a
// new homeserver gets its owner, @owner, with that password. A Wails app's Go side makes the
// same calls; see the README's "Embedding hearth".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"hearth.dev/hearth"
)

func main() {
	data := flag.String("data", "./embed-data", "the app's data folder for hearth")
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve the client-server API on (port 0: any free port)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *data, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
	fmt.Println("stopped")
}

func run(ctx context.Context, dataDir, listen string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := hearth.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.LogLevel = "warn"
	// hearth.Open creates the folder and the database on first use, and
	// holds the folder locked until Close.
	hs, err := hearth.Open(ctx, cfg, hearth.OpenOptions{Logger: log})
	if err != nil {
		return err
	}
	defer hs.Close()

	// The first account: an app asks its user for a password (here it
	// comes from EMBED_OWNER_PASSWORD) and makes the owner once. Without
	// one, hearth logs a one-time setup token that registers the owner.
	if pw := os.Getenv("EMBED_OWNER_PASSWORD"); pw != "" {
		need, err := hs.NeedsOwner(ctx)
		if err != nil {
			return err
		}
		if need {
			user, err := hs.CreateOwner(ctx, "owner", pw)
			if err != nil {
				return err
			}
			fmt.Println("created", user)
		}
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return fmt.Errorf("%s is not a loopback address", listen)
	}
	srv := &http.Server{
		Handler:           hs.Handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("serving http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Let requests in flight finish (a /sync long-poll ends early when its
	// connection closes), then the deferred Close closes the database.
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
