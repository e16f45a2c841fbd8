// Package fault classifies failures where they happen: permanent ones (bad input, a 4xx
// answer) go to the poison stream at once; everything else is retried with backoff.
package fault

import "errors"

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot fix. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// InvalidError is bad input: Err joins one "field: reason" error per bad field (errors.Join),
// so that a door can name each. It is permanent.
type InvalidError struct {
	// What names the input ("observation obs-1").
	What string
	Err  error
}

func (e *InvalidError) Error() string { return "invalid " + e.What + ": " + e.Err.Error() }

// Unwrap returns the joined field errors.
func (e *InvalidError) Unwrap() error { return e.Err }

// Invalid marks err, the joined field errors of input what, as bad input. Invalid(_, nil) is
// nil.
func Invalid(what string, err error) error {
	if err == nil {
		return nil
	}
	return Permanent(&InvalidError{What: what, Err: err})
}

// AsInvalid returns the InvalidError err is or wraps.
func AsInvalid(err error) (*InvalidError, bool) {
	var inv *InvalidError
	ok := errors.As(err, &inv)
	return inv, ok
}

// ErrNotFound means a command or query names something that does not exist (HTTP 404).
var ErrNotFound = errors.New("not found")

// ErrConflict means a command contradicts what is recorded, such as a second template for
// CIs another one governs (HTTP 409).
var ErrConflict = errors.New("conflict")
