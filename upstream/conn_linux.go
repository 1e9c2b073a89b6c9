//go:build linux

package upstream

import "syscall"

// readable reports whether an idle connection has something to read: bytes
// the upstream sent unasked, or its close (EOF or an error). It peeks
// without blocking and without consuming. A connection without a socket
// reports false.
func (c *conn) readable() bool {
	if c.raw == nil {
		return false
	}
	rc, err := c.raw.SyscallConn()
	if err != nil {
		return true
	}
	readable := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		readable = err != syscall.EAGAIN && err != syscall.EINTR // bytes, EOF, or an error
		return true
	})
	return readable || err != nil
}
