package envelope

import (
	"context"
	"errors"

	"github.com/mlseal/mlseal/envelope/internal/header"
)

// Errors that callers can test for with errors.Is. The error returned by
// Encrypt, Decrypt and their readers and writers wraps one of these and says
// more about what happened.
var (
	// ErrAuthentication means the message failed authentication: it was
	// tampered with or truncated, it does not match the encryption context
	// the caller expects, or the data key does not commit to it. No
	// unauthenticated plaintext has been released.
	ErrAuthentication = header.ErrAuthentication
	// ErrMalformed means the input is not a well-formed message.
	ErrMalformed = header.ErrMalformed
	// ErrTruncated means the message ended before its final frame or its
	// signature, or inside a frame.
	ErrTruncated = header.ErrTruncated
	// ErrNoDataKey means no keyring could unwrap any of the message's
	// encrypted data keys: the wrong key was given, or the key lacks access.
	ErrNoDataKey = errors.New("no keyring could unwrap a data key")
	// ErrLimit means the message exceeds a limit set by DecryptOptions
	// (encrypted data keys, frame length or non-framed body size).
	ErrLimit = header.ErrLimit
	// ErrPolicy means the message is refused by the caller's policy: a
	// non-committing suite under the default commitment policy, or a signed
	// suite when DecryptOptions.UnsignedOnly is set.
	ErrPolicy = errors.New("message refused by policy")
)

// IsIntegrityError reports whether err means the message is not authentic:
// tampered, truncated, malformed, or not openable with the given keys and
// context. The CLI maps these to exit code 3.
func IsIntegrityError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, ErrAuthentication) || errors.Is(err, ErrMalformed) ||
		errors.Is(err, ErrTruncated) || errors.Is(err, ErrNoDataKey)
}
