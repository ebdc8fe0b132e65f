package enroll

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/passphrase"
)

// ChallengeTTL is how long a challenge may be answered.
const ChallengeTTL = 2 * time.Minute

const maxChallenges = 1024

// Admission is an enrollment that passed its proof, for the configuration server to record.
type Admission struct {
	Role   Role
	Name   string
	Info   json.RawMessage // what the client says about itself (hostname, disks...); may be empty
	Remote string          // the client's address
	Cert   *x509.Certificate
}

// ServerConfig wires a Server.
type ServerConfig struct {
	Authority *Authority
	// Passphrase returns the current passphrase; it is called for every attempt, so a regenerated
	// passphrase takes effect at once.
	Passphrase func() (passphrase.Passphrase, error)
	// CertHash is the SHA-256 of the DER of the TLS certificate the API presents.
	CertHash []byte
	// Admit checks and records an admission before its certificate is returned, and returns the
	// configuration for the client ("config" of the answer). An error refuses the enrollment.
	Admit  func(ctx context.Context, a Admission) (any, error)
	Clock  clock.Clock
	Logger *slog.Logger
}

// Server serves the two enrollment calls. It is safe for concurrent use.
type Server struct {
	cfg   ServerConfig
	limit *failLimiter

	mu         sync.Mutex
	challenges map[string]*challenge
}

type challenge struct {
	client, server []byte
	expires        time.Time
}

// NewServer returns an enrollment server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Authority == nil || cfg.Passphrase == nil || len(cfg.CertHash) != sha256.Size || cfg.Admit == nil {
		return nil, errors.New("enroll: authority, passphrase, certificate hash and admit are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, limit: newFailLimiter(cfg.Clock), challenges: map[string]*challenge{}}, nil
}

// Register adds the enrollment routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/enroll/challenge", s.handleChallenge)
	mux.HandleFunc("POST /v1/enroll", s.handleEnroll)
}

// ChallengeRequest is the body of POST /v1/enroll/challenge.
type ChallengeRequest struct {
	ClientNonce []byte `json:"client_nonce"`
}

// ChallengeAnswer is its answer.
type ChallengeAnswer struct {
	ChallengeID string `json:"challenge_id"`
	ServerNonce []byte `json:"server_nonce"`
	ServerProof []byte `json:"server_proof"`
}

// Request is the body of POST /v1/enroll.
type Request struct {
	ChallengeID string          `json:"challenge_id"`
	Role        Role            `json:"role"`
	Name        string          `json:"name"`
	CSRPEM      string          `json:"csr_pem"`
	Proof       []byte          `json:"proof"`
	Info        json.RawMessage `json:"info,omitempty"`
}

// Answer is the answer of a successful enrollment.
type Answer struct {
	CertificatePEM string          `json:"certificate_pem"`
	CAPEM          string          `json:"ca_pem"`
	RootCAPEM      string          `json:"root_ca_pem"`
	Config         json.RawMessage `json:"config,omitempty"`
}

// WriteError answers with status and {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON answers with status and v in JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads a request body of at most 1 MiB into v, refusing unknown fields.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("malformed request: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("malformed request: data after the JSON object")
	}
	return nil
}

func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	var req ChallengeRequest
	if err := DecodeJSON(w, r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(req.ClientNonce) != passphrase.NonceSize {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("client_nonce must be %d bytes", passphrase.NonceSize))
		return
	}
	if d := s.limit.wait(remoteHost(r)); d > 0 {
		s.tooMany(w, r, d)
		return
	}
	p, err := s.cfg.Passphrase()
	if err != nil {
		s.cfg.Logger.Error("read passphrase", "err", err)
		WriteError(w, http.StatusInternalServerError, "the configuration server cannot read its passphrase")
		return
	}
	now := s.cfg.Clock.Now()
	sn := passphrase.Nonce()
	id := base64.RawURLEncoding.EncodeToString(passphrase.Nonce()[:18])
	s.mu.Lock()
	for k, c := range s.challenges {
		if now.After(c.expires) {
			delete(s.challenges, k)
		}
	}
	if len(s.challenges) >= maxChallenges {
		s.mu.Unlock()
		WriteError(w, http.StatusServiceUnavailable, "too many pending enrollment challenges; retry in a minute")
		return
	}
	s.challenges[id] = &challenge{client: req.ClientNonce, server: sn, expires: now.Add(ChallengeTTL)}
	s.mu.Unlock()
	WriteJSON(w, http.StatusOK, ChallengeAnswer{ChallengeID: id, ServerNonce: sn, ServerProof: p.ServerProof(req.ClientNonce, sn, s.cfg.CertHash)})
}

func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed enrollment attempts from %s; retry in %ds", remoteHost(r), secs))
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req Request
	if err := DecodeJSON(w, r, &req); err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	host := remoteHost(r)
	if d := s.limit.wait(host); d > 0 {
		s.tooMany(w, r, d)
		return
	}
	s.mu.Lock()
	ch := s.challenges[req.ChallengeID]
	delete(s.challenges, req.ChallengeID) // used once, whatever happens next
	s.mu.Unlock()
	if ch == nil || s.cfg.Clock.Now().After(ch.expires) {
		WriteError(w, http.StatusUnauthorized, "unknown or expired enrollment challenge")
		return
	}
	if req.Role != RoleAgent && req.Role != RoleProcessServer {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("invalid role %q: want agent or process-server", req.Role))
		return
	}
	if err := ValidName(req.Name); err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	csr, err := ParseCSR([]byte(req.CSRPEM))
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := s.cfg.Passphrase()
	if err != nil {
		s.cfg.Logger.Error("read passphrase", "err", err)
		WriteError(w, http.StatusInternalServerError, "the configuration server cannot read its passphrase")
		return
	}
	want := p.ClientProof(ch.client, ch.server, s.cfg.CertHash, string(req.Role), req.Name, csr.Raw)
	if !passphrase.Equal(want, req.Proof) {
		s.limit.fail(host)
		s.cfg.Logger.Warn("enrollment refused: wrong passphrase", "role", req.Role, "name", req.Name, "remote", host)
		WriteError(w, http.StatusUnauthorized, "wrong passphrase")
		return
	}
	leaf := Leaf{Role: req.Role, Name: req.Name}
	if req.Role == RoleProcessServer {
		leaf.DNSNames, leaf.IPs = extraNames(csr.DNSNames, req.Name), csr.IPAddresses
	}
	cert, err := s.cfg.Authority.Issue(csr.PublicKey, leaf)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	cfg, err := s.cfg.Admit(r.Context(), Admission{Role: req.Role, Name: req.Name, Info: req.Info, Remote: host, Cert: cert})
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			WriteError(w, he.Status, he.Message)
			return
		}
		s.cfg.Logger.Error("record enrollment", "role", req.Role, "name", req.Name, "err", err)
		WriteError(w, http.StatusInternalServerError, "the configuration server could not record the enrollment")
		return
	}
	var raw json.RawMessage
	if cfg != nil {
		if raw, err = json.Marshal(cfg); err != nil {
			WriteError(w, http.StatusInternalServerError, "encode configuration")
			return
		}
	}
	s.cfg.Logger.Info("enrolled", "role", req.Role, "name", req.Name, "remote", host, "serial", cert.SerialNumber.Text(16))
	WriteJSON(w, http.StatusOK, Answer{
		CertificatePEM: string(PEM(cert)),
		CAPEM:          string(PEM(s.cfg.Authority.CA())),
		RootCAPEM:      string(PEM(s.cfg.Authority.Root())),
		Config:         raw,
	})
}

// HTTPError is an error of Admit with the status and exact message for the client.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string { return e.Message }

func extraNames(names []string, self string) []string {
	var out []string
	for _, n := range names {
		n = strings.ToLower(n)
		if n != self && len(out) < 16 && n != "" {
			out = append(out, n)
		}
	}
	return out
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
