package failover

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/vault"
)

// The vault's helpers under the short names this package uses.
func randomID(prefix string) string  { return vault.NewID(prefix) }
func ns(t time.Time) int64           { return vault.UnixNano(t) }
func fromNS(n int64) time.Time       { return vault.FromUnixNano(n) }
func timePtr(t time.Time) *time.Time { return vault.TimePtr(t) }

func badRequest(format string, args ...any) error {
	return vault.Errorf(http.StatusBadRequest, format, args...)
}
func notFound(format string, args ...any) error {
	return vault.Errorf(http.StatusNotFound, format, args...)
}
func conflict(format string, args ...any) error {
	return vault.Errorf(http.StatusConflict, format, args...)
}

// userError reports whether err is one a client caused (a *vault.Error below 500).
func userError(err error) bool {
	var e *vault.Error
	return errors.As(err, &e) && e.Status < 500
}

var (
	// networks as vCenter and clouds name them: spaces and a few separators allowed
	networkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._:()-]{0,126}$`)
	nicName     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,62}$`)
)

// checkObjectName validates the name of a target or NIC as the vault does its objects'.
func checkObjectName(what, s string) error { return vault.CheckName(what, s) }

func checkNetwork(what, s string) error {
	if !networkName.MatchString(s) || strings.TrimSpace(s) != s {
		return badRequest("%s %q is not a valid network name: use 1 to 127 letters, digits, spaces and . _ : ( ) -, starting with a letter or digit", what, s)
	}
	return nil
}

// decode reads a JSON body into v strictly (one object, no unknown fields), with the vault's
// error messages. An empty body leaves v as it is when allowEmpty.
func decode(r *http.Request, v any, allowEmpty bool) error {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return vault.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", vault.MaxBodyBytes)
	}
	if err != nil {
		return badRequest("read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("request body is not valid JSON: %v", err)
		case errors.As(err, &te):
			if te.Field == "" {
				return badRequest("request body must be a JSON object")
			}
			return badRequest("field %q has the wrong type", te.Field)
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
