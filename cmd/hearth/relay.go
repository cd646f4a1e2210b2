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
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"hearth.dev/hearth"
	"hearth.dev/hearth/federation"
	"hearth.dev/hearth/relay"
	"hearth.dev/hearth/relay/relayserver"
)

const relayUsage = `usage:
  hearth relay --data-dir DIR --listen ADDR --domain DOMAIN [--tls-cert-file F --tls-key-file F | --tls off] [--nats-url URL]
  hearth relay node add --data-dir DIR|--nats-url URL [--ttl 24h] NAME
  hearth relay node list --data-dir DIR
  hearth relay node remove --data-dir DIR NAME`

// relayCommand runs `hearth relay ...`: the relay server, or the node
// registry.
func relayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "node" {
		return relayNodeCommand(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("hearth relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "folder holding the relay's database (relay.db)")
	listen := fs.String("listen", ":8448", "address to listen on")
	domain := fs.String("domain", "", "the relay's domain: nodes are NAME.DOMAIN")
	certFile := fs.String("tls-cert-file", "", "PEM certificate (a wildcard *.DOMAIN certificate)")
	keyFile := fs.String("tls-key-file", "", "PEM private key of the certificate")
	tlsMode := fs.String("tls", "on", "off serves plain HTTP, for a reverse proxy that terminates TLS")
	publicPort := fs.String("public-port", "", "port /.well-known/matrix/server names for the nodes (empty: the --listen port)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	natsURL := fs.String("nats-url", "", "NATS server(s) with JetStream shared by several relay instances (empty: one instance, state in SQLite)")
	outbound := fs.String("outbound", "on", "on: perform the outbound federation requests of nodes; off: refuse them")
	// The outbound requests honour the homeserver's federation.* keys.
	caFile := fs.String("federation-ca-file", "", "extra PEM roots trusted for outbound requests")
	insecure := fs.String("federation-insecure-skip-verify", "false", "true: skip certificate checks outbound (test harnesses only)")
	allowPrivate := fs.String("federation-allow-private-addresses", "false", "true: outbound requests may reach private addresses")
	resolve := fs.String("federation-resolve", "", "name=host:port pairs, comma separated, used before server discovery")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *dataDir == "" || *domain == "" {
		return errors.New(relayUsage)
	}
	if *tlsMode != "on" && *tlsMode != "off" {
		return fmt.Errorf("--tls is %q; it must be on or off", *tlsMode)
	}
	var tlsConfig *tls.Config
	if *tlsMode == "on" {
		if *certFile == "" || *keyFile == "" {
			return errors.New("--tls-cert-file and --tls-key-file are required unless --tls off")
		}
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if *publicPort == "" {
		_, port, err := net.SplitHostPort(*listen)
		if err != nil || port == "" || port == "0" {
			return fmt.Errorf("--listen %q has no port; give --public-port", *listen)
		}
		*publicPort = port
	}
	log := newLogger(stderr, *logLevel)
	slog.SetDefault(log)
	var out *relayserver.Outbound
	switch *outbound {
	case "on":
		fc := hearth.FederationConfig{CAFile: *caFile, InsecureSkipVerify: *insecure, AllowPrivateAddresses: *allowPrivate, Resolve: *resolve}
		rm, err := fc.ResolveMap()
		if err != nil {
			return err
		}
		t, err := federation.NewHTTPSTransport(federation.TransportOptions{
			CAFile: fc.CAFile, InsecureSkipVerify: fc.InsecureSkipVerify == "true",
			AllowPrivateAddresses: fc.AllowPrivateAddresses == "true", Resolve: rm,
		})
		if err != nil {
			return err
		}
		out = &relayserver.Outbound{Transport: t}
	case "off":
	default:
		return fmt.Errorf("--outbound is %q; it must be on or off", *outbound)
	}
	var store relayserver.Store
	var nc *nats.Conn
	var err error
	if *natsURL != "" {
		nc, err = nats.Connect(*natsURL, nats.Name("hearth relay"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("--nats-url: %w", err)
		}
		defer nc.Close()
		store, err = relayserver.OpenNATS(ctx, nc)
	} else {
		store, err = openRelayStore(ctx, *dataDir)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := relayserver.New(relayserver.Config{Domain: *domain, Store: store, NATS: nc, PublicPort: *publicPort, Outbound: out, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// The homeserver's HTTP limits, at their defaults: timeouts, a moving
	// body deadline, a cap on connections per address. Node sockets are
	// hijacked, which clears the deadlines (the keepalive finds dead ones).
	defaults := hearth.DefaultConfig()
	limits, err := defaults.HTTP.Limits()
	if err != nil {
		return err
	}
	ln = limitPerIP(ln, limits.MaxConnsPerIP, log)
	hs := newHTTPServer(srv, limits, log)
	// WebSockets upgrade HTTP/1.1 connections: no HTTP/2.
	hs.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	log.Info("relay started", "domain", *domain, "listen", ln.Addr().String(), "tls", *tlsMode,
		"connect", "wss://"+*domain+relay.ConnectPath)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping")
	srv.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func openRelayStore(ctx context.Context, dir string) (*relayserver.SQLite, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	return relayserver.OpenSQLite(ctx, dir)
}

// relayNodeCommand runs `hearth relay node add|list|remove`.
func relayNodeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(relayUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("hearth relay node "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the relay's data folder")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the enrollment token stays valid")
	natsURL := fs.String("nats-url", "", "the instances' NATS, when the relay runs on several")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var store relayserver.Store
	var err error
	switch {
	case *natsURL != "":
		nc, err := nats.Connect(*natsURL)
		if err != nil {
			return fmt.Errorf("--nats-url: %w", err)
		}
		defer nc.Close()
		store, err = relayserver.OpenNATS(ctx, nc)
		if err != nil {
			return err
		}
	case *dataDir != "":
		if store, err = openRelayStore(ctx, *dataDir); err != nil {
			return err
		}
	default:
		return errors.New(relayUsage)
	}
	defer store.Close()
	switch {
	case verb == "add" && fs.NArg() == 1:
		token, err := relayserver.AddNode(ctx, store, fs.Arg(0), *ttl, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, token)
		return nil
	case verb == "list" && fs.NArg() == 0:
		nodes, err := store.Nodes(ctx)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			state := "waiting for its first connection"
			if n.KeyID != "" {
				state = "enrolled " + n.Enrolled.UTC().Format(time.RFC3339) + " with " + n.KeyID
			}
			fmt.Fprintf(stdout, "%s\t%s\tqueued %d (%d bytes)\n", n.Name, state, n.Queued, n.QueueBytes)
		}
		return nil
	case verb == "remove" && fs.NArg() == 1:
		if err := store.RemoveNode(ctx, fs.Arg(0)); err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
		fmt.Fprintf(stdout, "removed %s\n", fs.Arg(0))
		return nil
	}
	return errors.New(relayUsage)
}
