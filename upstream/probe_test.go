package upstream

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProbe(t *testing.T) {
	body := ": OPENROUTER PROCESSING\n\n" + openAIStream
	prefix, ev, err := probe(strings.NewReader(body))
	require.NoError(t, err)
	assert.Equal(t, "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", string(ev), "comments are skipped")
	assert.True(t, bytes.HasPrefix([]byte(body), prefix), "prefix is what was read, in order")

	prefix, ev, err = probe(strings.NewReader("data: partial"))
	require.NoError(t, err)
	assert.Nil(t, ev)
	assert.Equal(t, "data: partial", string(prefix))

	big := strings.Repeat("y", probeLimit+100)
	prefix, ev, err = probe(strings.NewReader("data: " + big))
	require.NoError(t, err)
	assert.Nil(t, ev, "no event within the probe limit")
	assert.GreaterOrEqual(t, len(prefix), probeLimit)
}

// FuzzProbe checks that the probe returns exactly the bytes it read and an
// event that is a complete prefix of them.
func FuzzProbe(f *testing.F) {
	f.Add([]byte(openAIStream))
	f.Add([]byte(": c\n\n: d\n\nevent: error\ndata: {}\n\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		prefix, ev, err := probe(bytes.NewReader(stream))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(stream, prefix) {
			t.Fatalf("prefix %q is not a prefix of the stream", prefix)
		}
		if ev != nil {
			if !bytes.Contains(prefix, ev) || EventEnd(ev) != len(ev) {
				t.Fatalf("event %q is not one complete event of the prefix", ev)
			}
		}
	})
}
