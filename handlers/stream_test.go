package handlers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// keepTail keeps exactly the last tailSize bytes, whatever the chunk sizes.
func TestStreamRelay_keepTail(t *testing.T) {
	whole := strings.Repeat("0123456789", 500) // 5000 bytes
	for _, size := range []int{1, 7, 100, 1023, 1024, 1025, 5000} {
		var s streamRelay
		for i := 0; i < len(whole); i += size {
			s.keepTail([]byte(whole[i:min(i+size, len(whole))]))
		}
		assert.Equal(t, whole[len(whole)-tailSize:], string(s.tail), "chunks of %d", size)
	}
	var s streamRelay
	s.keepTail([]byte("short"))
	assert.Equal(t, "short", string(s.tail))
}
