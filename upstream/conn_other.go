//go:build !linux

package upstream

// readable reports whether an idle connection has something to read. Only
// the Linux build peeks at the socket; elsewhere an unsolicited answer is
// still caught by the check for unread bytes when a connection is returned.
func (c *conn) readable() bool { return false }
