package mobility

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// SocketPath is the unix socket where a running service answers status and verify requests:
// GET /status (Status as JSON), POST /verify (VerifyResult as JSON), POST /capture (take a point
// now; with ?wait=true, answer once it is committed, with a CaptureResult). Only root (the socket is 0600 in a 0700 directory) can ask.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, "mobility.sock") }

func (a *Agent) serveSocket(ctx context.Context) (stop func(), err error) {
	path := SocketPath(a.cfg.StateDir)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another mobility service is running with state directory %s", a.cfg.StateDir)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	os.Chmod(path, 0o600)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Status())
	})
	mux.HandleFunc("POST /capture", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("wait") {
		case "", "false":
			a.Trigger()
			writeJSON(w, http.StatusAccepted, map[string]string{"result": "capture requested"})
		case "true":
			res, err := a.CaptureAndWait(r.Context())
			if err != nil {
				return // the client went away
			}
			writeJSON(w, http.StatusOK, res)
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "wait must be true or false"})
		}
	})
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		reply := make(chan verifyReply, 1)
		select {
		case a.verifyReq <- reply:
		case <-r.Context().Done():
			return
		case <-time.After(time.Minute):
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the service is not connected to its process server"})
			return
		}
		select {
		case v := <-reply:
			if v.err != nil {
				writeJSON(w, http.StatusBadGateway, map[string]string{"error": v.err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, v.res)
		case <-r.Context().Done():
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		os.Remove(path)
	}, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ErrNotRunning is returned by the socket clients when no service answers.
var ErrNotRunning = errors.New("the mobility service is not running")

func socketClient(stateDir string, timeout time.Duration) *http.Client {
	path := SocketPath(stateDir)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
}

func socketCall(ctx context.Context, stateDir, method, path string, timeout time.Duration, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://mobility"+path, nil)
	if err != nil {
		return err
	}
	resp, err := socketClient(stateDir, timeout).Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return ErrNotRunning
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return fmt.Errorf("mobility service: %s", e.Error)
	}
	return json.Unmarshal(b, out)
}

// QueryStatus asks the running service for its status.
func QueryStatus(ctx context.Context, stateDir string) (Status, error) {
	var s Status
	err := socketCall(ctx, stateDir, http.MethodGet, "/status", 10*time.Second, &s)
	return s, err
}

// RequestVerify asks the running service to verify now and waits for the result.
func RequestVerify(ctx context.Context, stateDir string) (VerifyResult, error) {
	var v VerifyResult
	err := socketCall(ctx, stateDir, http.MethodPost, "/verify", 0, &v)
	return v, err
}

// RequestCapture asks the running service to take a point now.
func RequestCapture(ctx context.Context, stateDir string) error {
	var v map[string]string
	return socketCall(ctx, stateDir, http.MethodPost, "/capture", 10*time.Second, &v)
}

// CaptureWait asks the running service to take a point now and waits, until ctx ends, for it to
// be committed.
func CaptureWait(ctx context.Context, stateDir string) (CaptureResult, error) {
	var v CaptureResult
	err := socketCall(ctx, stateDir, http.MethodPost, "/capture?wait=true", 0, &v)
	return v, err
}
