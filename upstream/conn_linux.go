//go:build linux

package upstream

import "syscall"

// readable reports whether an idle connection has something to read: bytes
// the upstream sent unasked, or its close (EOF or an error). It peeks
// without blocking and without consuming: one recvfrom(MSG_PEEK|MSG_DONTWAIT)
// on the socket's descriptor, noted when the connection was made. (Through
// SyscallConn and RawConn.Read it cost an allocation, the poller's read lock
// and a deadline check on every reuse of a connection.) A connection
// without a socket reports false.
//
// The descriptor is used outside the poller's reference count: that is
// sound because a peek neither blocks nor consumes, and because the
// connection is idle and owned by the caller (acquire), or being read by
// the caller (a watched stream). Should another goroutine interrupt and
// close it meanwhile, the answer only sends the caller to a read that fails.
func (c *conn) readable() bool {
	if c.fd < 0 {
		return false
	}
	var b [1]byte
	_, _, err := syscall.Recvfrom(c.fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR // bytes, EOF, or an error
}
