// Package storage defines the one interface every vault storage backend implements, and the error
// classification that the retry wrapper and the replica store rely on.
//
// Names are slash-separated paths relative to the backend's root, such as "config", "keys/<id>" or
// "data/ab/<id>". A backend maps them onto its own namespace (files, blobs, objects) and must not
// interpret them further.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Info describes a stored object.
type Info struct {
	Name string // full name, as given to Put
	Size int64
}

// Backend stores immutable named objects.
//
// Guarantees every implementation gives (checked by the conformance suite in storagetest):
//   - Atomic put: a reader sees either no object (or the previous object of that name) or the whole
//     new object, never a part of it. A failed or cancelled Put leaves no visible partial object.
//   - Durable put: when Put returns nil the object survives a crash of this process and of the host
//     (the file backend fsyncs the file and its directory).
//   - Read-after-write: after Put returns nil, Load, Stat and List by any client see the object;
//     after Delete returns nil, they do not.
//   - List reports every object whose name starts with prefix, each once, in no particular order.
//   - Errors: ErrNotFound (wrapped) when the object does not exist; errors marked with Permanent
//     (bad credentials, missing bucket or container, invalid names, refused requests) are not worth
//     retrying; every other error may be transient. Context errors are returned as they are.
//
// All methods are safe for concurrent use.
type Backend interface {
	// Location returns the backend's URL without secrets, for messages.
	Location() string
	// Put stores size bytes read from body under name, replacing any object of that name.
	// body may be read more than once (from offset 0) by a retrying caller.
	Put(ctx context.Context, name string, body io.ReaderAt, size int64) error
	// Load calls fn with a reader of length bytes of the object starting at offset; length 0 means
	// to the end of the object. fn's error is returned as it is. A retrying caller may call fn again
	// with a fresh reader, so fn must start its work anew each time.
	// A range beyond the end of the object is an error; fn must check that it read what it needs.
	Load(ctx context.Context, name string, offset, length int64, fn func(rd io.Reader) error) error
	// Stat returns the object's Info, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, name string) (Info, error)
	// List calls fn for every object whose name starts with prefix. fn's error stops the listing and
	// is returned.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Delete removes the object. Deleting an object that does not exist returns an error wrapping
	// ErrNotFound.
	Delete(ctx context.Context, name string) error
	// Close releases the backend's resources.
	Close() error
}

// ErrNotFound is wrapped by errors about objects that do not exist. It is permanent.
var ErrNotFound = errors.New("object not found")

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	var p *permanentError
	if errors.As(err, &p) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether retrying err cannot help: not-found, errors marked with Permanent,
// and context cancellation or deadline errors.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// IsNotFound reports whether err says that an object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// ReadAll loads a whole object into memory.
func ReadAll(ctx context.Context, be Backend, name string) ([]byte, error) {
	var buf []byte
	err := be.Load(ctx, name, 0, 0, func(rd io.Reader) error {
		b, err := io.ReadAll(rd)
		buf = b
		return err
	})
	return buf, err
}

// CheckName returns an error marked Permanent unless name is a valid object name: non-empty,
// slash-separated, relative, without empty, "." or ".." segments, backslashes or NUL bytes.
// Every backend checks names with it, so that all backends accept the same names.
func CheckName(name string) error {
	if name == "" {
		return Permanent(errors.New("invalid object name: empty"))
	}
	if strings.ContainsAny(name, "\\\x00") {
		return Permanent(fmt.Errorf("invalid object name %q: backslash or NUL byte", name))
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return Permanent(fmt.Errorf("invalid object name %q: empty, \".\" or \"..\" segment", name))
		}
	}
	return nil
}

// CheckRange validates a Load range against an object of the given size and returns the number of
// bytes to read. length 0 means to the end of the object. A negative offset or length, or a range
// that ends beyond the object, is an error marked Permanent.
func CheckRange(offset, length, size int64) (int64, error) {
	if offset < 0 || length < 0 {
		return 0, Permanent(fmt.Errorf("invalid range: offset %d, length %d", offset, length))
	}
	if offset > size || length > size-offset {
		return 0, Permanent(fmt.Errorf("range (offset %d, length %d) beyond end of object of %d bytes",
			offset, length, size))
	}
	if length == 0 {
		return size - offset, nil
	}
	return length, nil
}
