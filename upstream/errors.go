package upstream

import (
	"errors"
	"syscall"
)

// ConnectError marks a failure to reach the upstream at all (DNS, refused,
// dial timeout, no free connection): no request byte was delivered, so
// another target may be tried.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "connect: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
