package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxAPIResponse bounds what the portal reads from one API answer.
const maxAPIResponse = 32 << 20

// APIError is an error answer of the REST API: its status and its message, shown to the user as is.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// caller sends requests to the REST API in-process, as the signed-in user.
type caller struct {
	api http.Handler
}

// call is one API request: method and path (under /api/v1), the body to send as JSON (nil: none)
// and where to decode the answer (nil: discard). The browser's request gives the context, the
// remote address (for the audit log) and the TLS state; token is the user's API token ("" for none).
type call struct {
	method, path string
	in, out      any
}

// do runs c against the API. An error answer becomes an *APIError with the API's message.
func (cl *caller) do(ctx context.Context, from *http.Request, token string, c call) error {
	var body io.Reader = http.NoBody
	if c.in != nil {
		b, err := json.Marshal(c.in)
		if err != nil {
			return fmt.Errorf("encode request to %s: %w", c.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, apiPrefix+c.path, body)
	if err != nil {
		return fmt.Errorf("build request to %s: %w", c.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if from != nil {
		req.RemoteAddr = from.RemoteAddr
		req.TLS = from.TLS
		req.Host = from.Host
		if ua := from.UserAgent(); ua != "" {
			req.Header.Set("User-Agent", ua)
		}
	}
	rec := newRecorder()
	cl.api.ServeHTTP(rec, req)
	rec.finish()
	if rec.overflow {
		return fmt.Errorf("answer of %s %s is larger than %d bytes", c.method, c.path, maxAPIResponse)
	}
	if rec.status >= 400 {
		return decodeAPIError(rec.status, rec.body.Bytes())
	}
	if c.out == nil {
		return nil
	}
	if w, ok := c.out.(*[]byte); ok {
		*w = append((*w)[:0], rec.body.Bytes()...)
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), c.out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", c.method, c.path, err)
	}
	return nil
}

// decodeAPIError turns an error answer into an *APIError; a body that is not the API's
// {"error": "..."} still gives a readable message.
func decodeAPIError(status int, body []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &APIError{Status: status, Message: e.Error}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = strings.ToLower(http.StatusText(status))
	}
	return &APIError{Status: status, Message: msg}
}

// statusOf returns the API status of err, or 0 when err is not an API answer.
func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// recorder is the in-process http.ResponseWriter of an API call.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(p) > maxAPIResponse {
		r.overflow = true
		return 0, errors.New("answer too large")
	}
	return r.body.Write(p)
}

// finish sets the status of an answer without a body.
func (r *recorder) finish() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
}
