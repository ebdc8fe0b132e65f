package configserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/enroll"
)

// MaxWait bounds the long poll of configuration fetches.
const MaxWait = 60 * time.Second

// APIHandler serves the HTTPS API for process servers and agents.
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	s.enroll.Register(mux)
	mux.HandleFunc("POST /v1/heartbeat", s.authed(s.handleHeartbeat, enroll.RoleAgent, enroll.RoleProcessServer))
	mux.HandleFunc("GET /v1/agent/config", s.authed(s.handleAgentConfig, enroll.RoleAgent))
	mux.HandleFunc("GET /v1/process-server/config", s.authed(s.handlePSConfig, enroll.RoleProcessServer))
	mux.HandleFunc("POST /v1/certificate", s.authed(s.handleRenew, enroll.RoleAgent, enroll.RoleProcessServer))
	for pattern, h := range s.cfg.Mounts {
		mux.Handle(pattern, h)
	}
	return mux
}

// AdminHandler serves the local admin socket (file permissions are its authentication).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/infrastructure", func(w http.ResponseWriter, r *http.Request) {
		enroll.WriteJSON(w, http.StatusOK, s.Infrastructure())
	})
	s.scaleOutRoutes(mux) // assign_http.go
	return mux
}

type caller struct {
	role enroll.Role
	name string
	cert *x509.Certificate
}

// authed admits requests with a client certificate issued by this configuration server's CA, of
// one of the roles, whose serial is the holder's current one (a reinstall makes older ones void).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, caller), roles ...enroll.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			enroll.WriteError(w, http.StatusUnauthorized, "a client certificate from this configuration server is required")
			return
		}
		chain := r.TLS.VerifiedChains[0]
		if len(chain) < 3 || !bytes.Equal(chain[1].Raw, s.id.Authority.CA().Raw) {
			enroll.WriteError(w, http.StatusForbidden, "the client certificate was not issued by this configuration server")
			return
		}
		role, name, err := enroll.Identify(chain[0])
		if err != nil {
			enroll.WriteError(w, http.StatusForbidden, err.Error())
			return
		}
		allowed := false
		for _, ro := range roles {
			allowed = allowed || ro == role
		}
		if !allowed {
			enroll.WriteError(w, http.StatusForbidden, fmt.Sprintf("role %s may not call %s", role, r.URL.Path))
			return
		}
		if s.registry.Serial(string(role), name) != chain[0].SerialNumber.Text(16) {
			enroll.WriteError(w, http.StatusForbidden, fmt.Sprintf("the certificate of %s %s is not its current one (enrolled again, or removed)", role, name))
			return
		}
		h(w, r, caller{role: role, name: name, cert: chain[0]})
	}
}

// admit records an enrollment (enroll.ServerConfig.Admit).
func (s *Server) admit(_ context.Context, a enroll.Admission) (any, error) {
	serial := a.Cert.SerialNumber.Text(16)
	now := s.cfg.Clock.Now().UTC()
	switch a.Role {
	case enroll.RoleProcessServer:
		var info PSInfo
		if err := decodeInfo(a.Info, &info); err != nil {
			return nil, err
		}
		if _, _, err := net.SplitHostPort(info.Address); err != nil {
			return nil, &enroll.HTTPError{Status: http.StatusBadRequest, Message: fmt.Sprintf("info.address %q is not host:port", info.Address)}
		}
		if err := s.registry.AddProcessServer(ProcessServerRecord{Name: a.Name, Address: info.Address, Serial: serial, Enrolled: now}); err != nil {
			return nil, err
		}
		c, _ := s.registry.PSConfig(a.Name)
		return c, nil
	default:
		var info AgentInfo
		if err := decodeInfo(a.Info, &info); err != nil {
			return nil, err
		}
		if _, err := s.registry.AddAgent(AgentRecord{Machine: a.Name, Info: info, Serial: serial, Enrolled: now}); err != nil {
			return nil, err
		}
		c, _ := s.registry.AgentConfig(a.Name)
		return c, nil
	}
}

func decodeInfo(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := strictJSON(raw, v); err != nil {
		return &enroll.HTTPError{Status: http.StatusBadRequest, Message: "info: " + err.Error()}
	}
	return nil
}

func (s *Server) answer(c caller) HeartbeatAnswer {
	v, _ := s.registry.ConfigVersion()
	return HeartbeatAnswer{
		ServerTime:    s.cfg.Clock.Now().UTC(),
		ConfigVersion: v,
		RenewCert:     c.cert.NotAfter.Sub(s.cfg.Clock.Now()) < enroll.RenewBefore,
	}
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, c caller) {
	if c.role == enroll.RoleProcessServer {
		var h PSHealth
		d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)) // unknown fields allowed: health may say more
		if err := d.Decode(&h); err != nil {
			enroll.WriteError(w, http.StatusBadRequest, "malformed request: "+err.Error())
			return
		}
		if err := s.registry.BeatPS(c.name, h); err != nil {
			enroll.WriteError(w, http.StatusInternalServerError, "record heartbeat: "+err.Error())
			return
		}
	} else {
		var h AgentHeartbeat
		if err := enroll.DecodeJSON(w, r, &h); err != nil {
			enroll.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.registry.BeatAgent(c.name, h)
	}
	enroll.WriteJSON(w, http.StatusOK, s.answer(c))
}

// waitChange long-polls: it returns once the configuration version differs from ?since, or ?wait
// seconds (at most MaxWait) have passed, or the client went away.
func (s *Server) waitChange(r *http.Request) {
	since, err := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	if err != nil {
		return
	}
	wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
	d := min(time.Duration(wait)*time.Second, MaxWait)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		v, changed := s.registry.ConfigVersion()
		if v != since {
			return
		}
		select {
		case <-changed:
		case <-t.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) handleAgentConfig(w http.ResponseWriter, r *http.Request, c caller) {
	s.waitChange(r)
	cfg, ok := s.registry.AgentConfig(c.name)
	if !ok {
		enroll.WriteError(w, http.StatusNotFound, fmt.Sprintf("machine %s is not enrolled", c.name))
		return
	}
	enroll.WriteJSON(w, http.StatusOK, cfg)
}

func (s *Server) handlePSConfig(w http.ResponseWriter, r *http.Request, c caller) {
	s.waitChange(r)
	cfg, ok := s.registry.PSConfig(c.name)
	if !ok {
		enroll.WriteError(w, http.StatusNotFound, fmt.Sprintf("process server %s is not enrolled", c.name))
		return
	}
	enroll.WriteJSON(w, http.StatusOK, cfg)
}

// RenewRequest is the body of POST /v1/certificate.
type RenewRequest struct {
	CSRPEM string `json:"csr_pem"`
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request, c caller) {
	var req RenewRequest
	if err := enroll.DecodeJSON(w, r, &req); err != nil {
		enroll.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	csr, err := enroll.ParseCSR([]byte(req.CSRPEM))
	if err != nil {
		enroll.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	leaf := enroll.Leaf{Role: c.role, Name: c.name}
	if c.role == enroll.RoleProcessServer {
		if len(c.cert.DNSNames) > 1 {
			leaf.DNSNames = c.cert.DNSNames[1:] // the names it had, after its own
		}
		leaf.IPs = c.cert.IPAddresses
	}
	cert, err := s.id.Authority.Issue(csr.PublicKey, leaf)
	if err != nil {
		enroll.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.registry.SetSerial(string(c.role), c.name, cert.SerialNumber.Text(16)); err != nil {
		enroll.WriteError(w, http.StatusInternalServerError, "record certificate: "+err.Error())
		return
	}
	s.cfg.Logger.Info("certificate renewed", "role", c.role, "name", c.name, "serial", cert.SerialNumber.Text(16))
	enroll.WriteJSON(w, http.StatusOK, enroll.Answer{
		CertificatePEM: string(enroll.PEM(cert)),
		CAPEM:          string(enroll.PEM(s.id.Authority.CA())),
		RootCAPEM:      string(enroll.PEM(s.id.Authority.Root())),
	})
}
