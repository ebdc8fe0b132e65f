package vault

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error a client caused or can act on; its message is returned as is (exact,
// lowercase) with its HTTP status. Any other error is an internal one (500, logged).
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func errf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errf(http.StatusBadRequest, format, args...)
}
func notFound(format string, args ...any) error { return errf(http.StatusNotFound, format, args...) }
func conflict(format string, args ...any) error { return errf(http.StatusConflict, format, args...) }

// StatusOf returns the HTTP status of err: its Error status, or 500.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}
