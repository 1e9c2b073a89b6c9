package translate

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEventEnd(t *testing.T) {
	require.Equal(t, 9, eventEnd([]byte("data: x\n\nrest")))
	require.Equal(t, 11, eventEnd([]byte("data: x\r\n\r\nrest")))
	require.Equal(t, -1, eventEnd([]byte("data: x\n")))
}

func TestFields(t *testing.T) {
	name, data := fields([]byte("event: ping\r\n: comment\ndata: {\"a\":1}\n\n"))
	require.Equal(t, "ping", string(name))
	require.Equal(t, `{"a":1}`, string(data))
	_, data = fields([]byte("data:one\ndata: two\n\n"))
	require.Equal(t, "one\ntwo", string(data))
}

func TestOpenAIToAnthropicStream_Feed_OversizedEvent(t *testing.T) {
	s := NewOpenAIToAnthropicStream(Options{})
	out := s.Feed(nil, make([]byte, maxPending+1))
	require.True(t, s.Done())
	require.Contains(t, string(out), "event: error")
}
