package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Cause names why an attempt got no answer. The values are stable: they
// appear in the attempt trail and the log.
type Cause string

// The causes of a connection failure.
const (
	CauseDNS                Cause = "dns"                  // the upstream's name did not resolve
	CauseRefused            Cause = "refused"              // nothing listens there (or a firewall said no)
	CauseReset              Cause = "reset"                // the connection was reset or broke while in use
	CauseTLS                Cause = "tls"                  // the TLS handshake failed (certificate, protocol)
	CauseTimeout            Cause = "timeout"              // connect, answer or stream silence took too long
	CauseClosedBeforeAnswer Cause = "closed_before_answer" // the upstream closed the connection without answering
	CauseBadAnswer          Cause = "bad_answer"           // the answer's head could not be parsed
	CauseProxy              Cause = "proxy"                // the outbound proxy refused the tunnel
	CauseNoFreeConn         Cause = "no_free_connection"   // the target's pool stayed full for CONNECT_TIMEOUT
)

// CauseError is a failure that left no answer, classified where it happened.
type CauseError struct {
	Cause Cause
	Err   error
	// Written is set when some of the request reached the upstream (it may
	// have acted on it); dial failures never have it.
	Written bool
}

func (e *CauseError) Error() string { return string(e.Cause) + ": " + e.Err.Error() }
func (e *CauseError) Unwrap() error { return e.Err }

// CauseOf returns the cause of a failure, or "" when err carries none.
func CauseOf(err error) Cause {
	var ce *CauseError
	if errors.As(err, &ce) {
		return ce.Cause
	}
	return ""
}

// errStalled is the idle cut of a watched stream.
var errStalled = errors.New("upstream stream stalled")

// dialError classifies a failure to open a connection.
func dialError(err error) error {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	var ce *CauseError
	if errors.As(err, &ce) {
		return ce // classified already (the proxy dialer)
	}
	ce = &CauseError{Err: err}
	switch {
	case errors.As(err, &dnsErr):
		ce.Cause = CauseDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		ce.Cause = CauseRefused
	case errors.Is(err, fasthttp.ErrDialTimeout) || isTimeout(err):
		ce.Cause = CauseTimeout
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &recErr):
		ce.Cause = CauseTLS
	case isConnReset(err):
		ce.Cause = CauseReset
	default:
		ce.Cause = CauseRefused
	}
	return ce
}

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
