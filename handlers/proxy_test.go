package handlers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRouteAndMethodStrings: the record's route and method are the
// request's, whether interned or converted, and never alias its bytes.
func TestRouteAndMethodStrings(t *testing.T) {
	for _, p := range []string{"/v1/chat/completions", "/v1/messages", "/v1/models", "/v1/files/abc"} {
		b := []byte(p)
		got := routeString(b)
		copy(b, strings.Repeat("x", len(b)))
		assert.Equal(t, p, got)
	}
	for _, m := range []string{"POST", "GET", "DELETE", "PATCH"} {
		b := []byte(m)
		got := methodString(b)
		copy(b, strings.Repeat("x", len(b)))
		assert.Equal(t, m, got)
	}
	assert.Zero(t, testing.AllocsPerRun(50, func() { routeString([]byte("/v1/chat/completions")); methodString([]byte("POST")) }))
}
