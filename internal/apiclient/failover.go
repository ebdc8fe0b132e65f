package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
)

// servers are the replicas of one vault service (several `osr vault serve` on one PostgreSQL).
// Requests go to the replica that answered last; when one cannot be reached the next is tried, and
// after a transport error with one, later requests start at the next.
//
// Retrying on another replica is safe when the request cannot have been applied: a connection that
// was never made (dial refused, no route, dial timeout), or an idempotent method (GET, HEAD, PUT,
// DELETE) whatever the transport error. A POST whose connection broke after it was sent is not
// retried: it may have been applied, and the caller gets the error to decide. Answers of a replica,
// errors included, are final, except 502, 503 and 504 (a proxy in front of a replica that is gone,
// or a replica shutting down), which try the next replica as a transport error would.
type servers struct {
	mu    sync.Mutex
	bases []string
	cur   int
}

func newServers(urls []string, prefix string) *servers {
	s := &servers{}
	for _, u := range urls {
		s.bases = append(s.bases, u+prefix)
	}
	return s
}

// do sends with each replica in turn, from the current one, until one answers or a failure cannot
// be retried safely.
func (s *servers) do(ctx context.Context, method string, send func(base string) (*http.Response, error)) (*http.Response, error) {
	s.mu.Lock()
	start, n := s.cur, len(s.bases)
	s.mu.Unlock()
	var lastErr error
	for i := range n {
		k := (start + i) % n
		resp, err := send(s.bases[k])
		if err == nil && !unavailable(resp.StatusCode) {
			s.mu.Lock()
			s.cur = k
			s.mu.Unlock()
			return resp, nil
		}
		if ctx.Err() != nil {
			if err == nil {
				return resp, nil
			}
			return nil, err
		}
		if err == nil {
			if i == n-1 {
				return resp, nil // the last replica's answer stands
			}
			resp.Body.Close()
			continue
		}
		lastErr = err
		// Whatever happens to this request, the next ones start at the next replica: the
		// pooled connections to this one are likely dead too.
		s.mu.Lock()
		if s.cur == k {
			s.cur = (k + 1) % n
		}
		s.mu.Unlock()
		if !retriable(method, err) {
			return nil, err
		}
	}
	return nil, lastErr
}

func unavailable(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// retriable says whether a request that failed with err may be sent to another replica.
func retriable(method string, err error) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
