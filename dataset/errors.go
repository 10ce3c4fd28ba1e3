package dataset

import (
	"context"
	"errors"
	"io/fs"
	"net"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

// A Class sorts an item's failure: what a metric, an audit trail or a
// retry policy needs to know about it.
type Class string

// Classes of failure.
const (
	ClassUnsafeName  Class = "unsafe-name" // ErrUnsafeName
	ClassExists      Class = "exists"      // the output exists
	ClassNotFound    Class = "not-found"   // the input, bucket or object does not exist
	ClassAccess      Class = "access"      // credentials or permissions refused
	ClassIntegrity   Class = "integrity"   // not authentic, truncated, malformed, no key opens it
	ClassPolicy      Class = "policy"      // refused by policy (legacy suite, signed, ...)
	ClassLimit       Class = "limit"       // over a limit
	ClassStalled     Class = "stalled"     // ErrStalled
	ClassDeadline    Class = "deadline"    // ItemTimeout passed
	ClassUnavailable Class = "unavailable" // ErrUnavailable: a service did not answer
	ClassCanceled    Class = "canceled"    // the job was cancelled
	ClassOther       Class = "other"
)

// Classify returns the class of an item's error.
func Classify(err error) Class {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUnsafeName):
		return ClassUnsafeName
	case errors.Is(err, ErrExists), errors.Is(err, s3io.ErrExists):
		return ClassExists
	case errors.Is(err, ErrStalled):
		return ClassStalled
	case errors.Is(err, errItemDeadline):
		return ClassDeadline
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case envelope.IsIntegrityError(err):
		return ClassIntegrity
	case errors.Is(err, envelope.ErrPolicy):
		return ClassPolicy
	case errors.Is(err, envelope.ErrLimit):
		return ClassLimit
	case errors.Is(err, s3io.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return ClassNotFound
	case errors.Is(err, s3io.ErrAccess):
		return ClassAccess
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne):
		// A call's own deadline passed (the item's is errItemDeadline),
		// or the network failed.
		return ClassUnavailable
	}
	return ClassOther
}

// errItemDeadline is the cause of an item's context when ItemTimeout
// passes.
var errItemDeadline = errors.New("the item's deadline passed")
