package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"hearth.dev/hearth"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hearth serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	generate := fs.Bool("generate-config", false, "print the commented default configuration and exit")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *generate {
		_, err := io.WriteString(stdout, hearth.DefaultConfigYAML)
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	slog.SetDefault(log)
	gc, err := applyGCSettings(cfg.Memory, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	hs, err := hearth.Open(ctx, cfg, hearth.OpenOptions{Logger: log})
	if err != nil {
		return err
	}
	defer hs.Close()
	gc.log(log) // after the open: a refused start prints only why

	limits, err := cfg.HTTP.Limits()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	ln = limitPerIP(ln, limits.MaxConnsPerIP, log)
	srv := newHTTPServer(hs.Handler, limits, log)
	log.Info("hearth started", "version", hearth.Version, "server_name", hs.ServerName,
		"listen", ln.Addr().String(), "database", cfg.DatabasePath(), "startup", time.Since(hs.StartedAt).Round(time.Millisecond))
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	servers := []*http.Server{srv}
	if cfg.Federation.Listen != "" {
		fsrv, err := serveFederation(cfg, hs, limits, log, errc)
		if err != nil {
			srv.Close()
			return err
		}
		servers = append(servers, fsrv)
	}
	if hs.Metrics != nil {
		msrv, err := serveMetrics(cfg.Metrics.Listen, hs.Metrics, cfg.Metrics.Profiles == "on", limits, log, errc)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return err
		}
		servers = append(servers, msrv)
	}
	select {
	case err := <-errc:
		for _, s := range servers {
			s.Close()
		}
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// serveFederation starts the federation listener (HTTPS, or plain HTTP
// with federation.tls off) serving hs.Federation, with the same timeouts
// and per-address cap as the client listener; Serve's end goes to errc.
func serveFederation(cfg hearth.Config, hs *hearth.Homeserver, limits hearth.HTTPLimits, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	fc := cfg.Federation
	srv := newHTTPServer(hs.Federation, limits, log)
	var tlsCfg *tls.Config
	if fc.TLS == "on" {
		cert, err := tls.LoadX509KeyPair(fc.TLSCertFile, fc.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("federation TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	ln, err := net.Listen("tcp", fc.Listen)
	if err != nil {
		return nil, fmt.Errorf("federation listener: %w", err)
	}
	ln = limitPerIP(ln, limits.MaxConnsPerIP, log)
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
	}
	log.Info("federation listening", "listen", ln.Addr().String(), "tls", fc.TLS)
	go func() { errc <- srv.Serve(ln) }()
	return srv, nil
}

// serveMetrics starts the metrics listener (metrics.listen): plain HTTP,
// GET /metrics only, with the client listener's timeouts; Serve's end
// goes to errc.
func serveMetrics(addr string, h http.Handler, profiles bool, limits hearth.HTTPLimits, log *slog.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	if profiles {
		// Named here, not through net/http/pprof's handlers on
		// http.DefaultServeMux, which nothing serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	srv := newHTTPServer(mux, limits, log)
	srv.Addr = ln.Addr().String()
	log.Info("metrics listening", "listen", srv.Addr)
	go func() { errc <- srv.Serve(ln) }()
	return srv, nil
}
