package upstream

import (
	"bufio"
	"errors"
)

// errInvalidStatus: the upstream's status line holds no valid HTTP status.
// It fails the attempt like a connection error, so it is never relayed.
var errInvalidStatus = errors.New("upstream answered with an invalid HTTP status")

// checkStatusLine peeks at the status line waiting in br ("HTTP/1.1 200 …")
// and reports errInvalidStatus unless its code is 100–599. fasthttp parses
// any three digits and reads the code 000 as 200 OK (its zero value), so the
// check has to happen on the wire bytes, before the response is parsed.
// Anything it cannot read is left for the parser to report.
func checkStatusLine(br *bufio.Reader) error {
	line, _ := br.Peek(len("HTTP/1.1 200"))
	if len(line) < len("HTTP/1.1 200") || string(line[:5]) != "HTTP/" || line[8] != ' ' {
		return nil
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return nil
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return errInvalidStatus
	}
	return nil
}
