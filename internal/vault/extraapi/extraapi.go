package extraapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/opensiterecovery/osr/internal/vault"
)

// Handler serves one request with the bound service s.
type Handler[S any] func(ctx context.Context, s *S, r *http.Request) (status int, body any, err error)

// Bound holds a service that is bound after the vault is built. Its zero value is ready to use;
// it is safe for concurrent use.
type Bound[S any] struct {
	svc atomic.Pointer[S]
}

// Bind makes the wrapped handlers use s.
func (b *Bound[S]) Bind(s *S) { b.svc.Store(s) }

// Wrap adapts h to a vault.ExtraRoute handler. Until a service is bound it answers 503 with the
// message notReady; when h fails, its status and body are dropped so that the vault answers with
// the error alone.
func (b *Bound[S]) Wrap(notReady string, h Handler[S]) func(ctx context.Context, r *http.Request) (int, any, error) {
	return func(ctx context.Context, r *http.Request) (int, any, error) {
		s := b.svc.Load()
		if s == nil {
			return 0, nil, vault.Errorf(http.StatusServiceUnavailable, "%s", notReady)
		}
		status, body, err := h(ctx, s, r)
		if err != nil {
			return 0, nil, err
		}
		return status, body, nil
	}
}

// ReadBody decodes r's JSON body strictly into v (see DecodeJSON). A body beyond the vault's
// limit is a 413; with allowEmpty, an empty body leaves v as it is.
func ReadBody(r *http.Request, v any, allowEmpty bool) error {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return vault.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", vault.MaxBodyBytes)
	}
	if err != nil {
		return vault.Errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	if allowEmpty && len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return DecodeJSON(b, v)
}

// DecodeJSON decodes b into v strictly: exactly one JSON value, no unknown fields. Its errors are
// 400s (*vault.Error); v may be partly filled when it fails.
func DecodeJSON(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return vault.Errorf(http.StatusBadRequest, "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return vault.Errorf(http.StatusBadRequest, "request body is not valid: %v", err)
	}
	if dec.More() {
		return vault.Errorf(http.StatusBadRequest, "request body has data after the JSON object")
	}
	return nil
}
