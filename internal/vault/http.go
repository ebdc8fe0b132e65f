package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// APIPrefix is where the API is mounted.
const APIPrefix = "/api/v1"

type handlerFunc func(ctx context.Context, r *http.Request) (status int, body any, err error)

// Route is one API endpoint (Routes lists them for the OpenAPI check and the portal).
type Route struct {
	Method string
	Path   string // under APIPrefix, with {name} wildcards
	perm   perm
	h      handlerFunc
}

// Mutating reports whether the route changes data.
func (r Route) Mutating() bool { return r.Method != http.MethodGet }

// Permission names what the route needs: public, read, self, failover, write, owner, config-server.
func (r Route) Permission() string {
	return [...]string{"public", "read", "self", "failover", "write", "owner", "config-server"}[r.perm]
}

// ExtraRoute is an endpoint another package adds to the API (failover, recovery plans):
// Permission is one of Route.Permission's names; Handler answers (status, JSON body, error) and
// finds its caller with ActorOf. Errors of type *Error keep their status and message.
type ExtraRoute struct {
	Method, Path, Permission string
	Handler                  func(ctx context.Context, r *http.Request) (status int, body any, err error)
}

// ActorOf returns the caller of a request being handled.
func ActorOf(ctx context.Context) Actor { return actorOf(ctx) }

// Errorf returns an *Error: a client error with its HTTP status and exact message.
func Errorf(status int, format string, args ...any) error { return errf(status, format, args...) }

// Routes returns every API endpoint.
func (s *Service) Routes() []Route {
	rs := append(s.builtinRoutes(), s.vcenterRoutes()...) // vcenters_ops.go
	for _, x := range s.cfg.ExtraRoutes {
		p := permPublic
		for i := permPublic; i <= permConfigServer; i++ {
			if (Route{perm: i}).Permission() == x.Permission {
				p = i
			}
		}
		rs = append(rs, Route{Method: x.Method, Path: x.Path, perm: p, h: x.Handler})
	}
	return rs
}

func (s *Service) builtinRoutes() []Route {
	return []Route{
		{"GET", "/health", permPublic, s.hHealth},
		{"POST", "/login", permPublic, s.guarded(s.hLogin)},
		{"POST", "/registrations", permPublic, s.guarded(s.hRegister)},
		{"GET", "/whoami", permSelf, s.hWhoami},

		{"GET", "/vaults", permRead, s.hListVaults},
		{"POST", "/vaults", permWrite, s.hCreateVault},
		{"GET", "/vaults/{vault}", permRead, s.hGetVault},
		{"DELETE", "/vaults/{vault}", permWrite, s.hDeleteVault},
		{"PUT", "/vaults/{vault}/target", permWrite, s.hSetTarget},
		{"POST", "/vaults/{vault}/registration-keys", permWrite, s.hCreateRegKey},
		{"GET", "/vaults/{vault}/config-servers", permRead, s.hListConfigServers},
		{"DELETE", "/vaults/{vault}/config-servers/{cs}", permWrite, s.hRemoveConfigServer},
		{"GET", "/vaults/{vault}/machines", permRead, s.hListMachines},

		{"GET", "/vaults/{vault}/policies", permRead, s.hListPolicies},
		{"POST", "/vaults/{vault}/policies", permWrite, s.hCreatePolicy},
		{"GET", "/vaults/{vault}/policies/{policy}", permRead, s.hGetPolicy},
		{"DELETE", "/vaults/{vault}/policies/{policy}", permWrite, s.hDeletePolicy},
		{"POST", "/vaults/{vault}/policies/{policy}/associations", permWrite, s.hAssociatePolicy},

		{"GET", "/vaults/{vault}/protected-items", permRead, s.hListItems},
		{"POST", "/vaults/{vault}/protected-items", permWrite, s.hEnable},
		{"GET", "/vaults/{vault}/protected-items/{machine}", permRead, s.hGetItem},
		{"DELETE", "/vaults/{vault}/protected-items/{machine}", permWrite, s.hDisable},
		{"GET", "/vaults/{vault}/protected-items/{machine}/recovery-points", permRead, s.hRecoveryPoints},

		{"GET", "/jobs", permRead, s.hListJobs},
		{"GET", "/jobs/{job}", permRead, s.hGetJob},
		{"GET", "/events", permRead, s.hListEvents},
		{"GET", "/alerts", permRead, s.hListAlerts},
		{"GET", "/audit", permRead, s.hListAudit},

		{"GET", "/webhooks", permOwner, s.hListWebhooks},
		{"POST", "/webhooks", permOwner, s.hAddWebhook},
		{"DELETE", "/webhooks/{webhook}", permOwner, s.hRemoveWebhook},

		{"GET", "/users", permOwner, s.hListUsers},
		{"POST", "/users", permOwner, s.hAddUser},
		{"DELETE", "/users/{user}", permOwner, s.hRemoveUser},
		{"GET", "/tokens", permSelf, s.hListTokens},
		{"POST", "/tokens", permSelf, s.hCreateToken},
		{"DELETE", "/tokens/{token}", permSelf, s.hRevokeToken},

		{"POST", "/cs/heartbeat", permConfigServer, s.hHeartbeat},
		{"PUT", "/cs/inventory", permConfigServer, s.hInventory},
		{"GET", "/cs/desired-state", permConfigServer, s.hDesiredState},
		{"GET", "/cs/requests", permConfigServer, s.hCSRequests},     // finalsync_api.go
		{"POST", "/cs/requests/{id}", permConfigServer, s.hCSReport}, // finalsync_api.go
	}
}

// Handler returns the service's HTTP handler: the API under /api/v1 and the portal (if
// configured) under /.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.Handle(rt.Method+" "+APIPrefix+rt.Path, s.wrap(rt))
	}
	mux.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	if s.cfg.Portal != nil {
		mux.Handle("/", s.cfg.Portal)
	}
	return mux
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if body != nil {
		json.NewEncoder(w).Encode(body)
	}
}

func (s *Service) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		start := time.Now()
		a, err := s.authenticate(ctx, r, rt.perm)
		defer func() {
			s.log.DebugContext(ctx, "api request", "method", r.Method, "path", r.URL.Path, "actor", a.Name(), "remote", r.RemoteAddr, "err", err, "duration", time.Since(start))
		}()
		if err == nil {
			a.Remote = r.RemoteAddr
			ctx = WithActor(ctx, a)
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
			var status int
			var body any
			status, body, err = rt.h(ctx, r.WithContext(ctx))
			if err == nil {
				if status == http.StatusNoContent {
					body = nil
				}
				writeJSON(w, status, body)
				return
			}
		}
		st := StatusOf(err)
		msg := err.Error()
		if st == http.StatusInternalServerError {
			s.log.ErrorContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			msg = "internal error: " + msg
		}
		writeJSON(w, st, errorBody{Error: msg})
	})
}

func (s *Service) authenticate(ctx context.Context, r *http.Request, p perm) (Actor, error) {
	switch p {
	case permPublic:
		return Actor{}, nil
	case permConfigServer:
		if r.TLS == nil {
			return Actor{}, errf(http.StatusUnauthorized, "this endpoint needs a configuration server client certificate")
		}
		return s.authenticateConfigServer(ctx, r.TLS.VerifiedChains)
	}
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return Actor{}, errUnauthorized
	}
	a, err := s.authenticateToken(ctx, secret)
	if err != nil {
		return Actor{}, err
	}
	if !a.Role.allows(p) {
		return Actor{}, errf(http.StatusForbidden, "role %s may not do this (needs %s)", a.Role, Route{perm: p}.Permission())
	}
	return a, nil
}

// decode reads a JSON body into v strictly: one object, no unknown fields, right types.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return badRequest("read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var pe *time.ParseError
		switch {
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body is not valid JSON: %v", err)
		case errors.As(err, &te):
			if te.Field == "" {
				return badRequest("request body must be a JSON object")
			}
			return badRequest("field %q must be %s", te.Field, jsonKind(te.Type))
		case errors.As(err, &pe):
			return badRequest("request body holds a time that is not RFC 3339: %q", pe.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("request body has an unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("request body is not valid: %v", err)
	}
	if dec.More() {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}

func jsonKind(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

func queryLimit(r *http.Request) (int, error) {
	q := r.URL.Query().Get("limit")
	if q == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > 1000 {
		return 0, badRequest("limit must be an integer between 1 and 1000, got %q", q)
	}
	return n, nil
}

func ok(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, body, nil
}

func created(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, body, nil
}

func noContent(err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

var _ = fmt.Sprintf
