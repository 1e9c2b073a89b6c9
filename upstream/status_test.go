package upstream

import (
	"bufio"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckStatusLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r\n", true},
		{"HTTP/1.1 100 Continue\r\n", true},
		{"HTTP/1.1 599 Odd\r\n", true},
		{"HTTP/1.0 429 Too Many\r\n", true},
		{"HTTP/1.1 000 OK\r\n", false},
		{"HTTP/1.1 099 Low\r\n", false},
		{"HTTP/1.1 600 High\r\n", false},
		{"HTTP/1.1 999 High\r\n", false},
		{"HTTP/1.1 2x0 Junk\r\n", true}, // not digits: left to the parser, which refuses it
		{"garbage", true},
	}
	for _, tt := range tests {
		err := checkStatusLine(bufio.NewReader(strings.NewReader(tt.line)))
		assert.Equal(t, tt.ok, err == nil, tt.line)
	}
}
