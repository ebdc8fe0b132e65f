// Command faultproxy runs the test fault proxy (internal/e2e/faultproxy) as a process, for
// scripts: it forwards --listen to --target and takes commands over HTTP on --control.
//
//	faultproxy --listen 127.0.0.1:0 --target 127.0.0.1:9443 --control 127.0.0.1:0
//
// It prints one line, "faultproxy: listen ADDR control ADDR", once both listen. Commands (any
// method): /cut, /pause, /resume, /refuse?on=true|false, /delay?d=50ms, /stats (JSON counters:
// accepted, refused, cut, open, up and down bytes). SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/faultproxy"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(2)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address clients connect to")
	target := flag.String("target", "", "address to forward to (required)")
	control := flag.String("control", "127.0.0.1:0", "address of the HTTP control endpoint")
	flag.Parse()
	if *target == "" {
		return fmt.Errorf("--target is required")
	}
	p, err := faultproxy.New(*listen, *target, faultproxy.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "cut %d\n", p.Cut()) })
	mux.HandleFunc("/pause", func(w http.ResponseWriter, r *http.Request) { p.Pause(); fmt.Fprintln(w, "paused") })
	mux.HandleFunc("/resume", func(w http.ResponseWriter, r *http.Request) { p.Resume(); fmt.Fprintln(w, "resumed") })
	mux.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			http.Error(w, "want on=true|false", http.StatusBadRequest)
			return
		}
		p.Refuse(on)
		fmt.Fprintf(w, "refuse %v\n", on)
	})
	mux.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d < 0 {
			http.Error(w, "want d=DURATION", http.StatusBadRequest)
			return
		}
		p.SetDelay(d)
		fmt.Fprintf(w, "delay %v\n", d)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.Stats())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("faultproxy: listen %s control %s\n", p.Addr(), ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
