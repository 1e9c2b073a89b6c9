package stats

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Finding 8 of the hardening issue: a 15 KB request path was stored whole.
// Every stored string is capped, so a row stays small.
func TestRecorder_Record_capsStoredStrings(t *testing.T) {
	r := newTestRecorder(t, Options{})
	e := okEvent()
	e.Route = "/v1/" + strings.Repeat("a", 15000)
	e.Model = strings.Repeat("m", 5000)
	e.Method = strings.Repeat("M", 5000)
	e.Target = strings.Repeat("t", 5000)
	e.Error = strings.Repeat("é", 5000)
	for range 300 {
		e.Attempts = append(e.Attempts, Attempt{Target: strings.Repeat("x", 3000), Reason: strings.Repeat("r", 3000)})
	}
	r.Record(e)
	require.NoError(t, r.Close())
	got := r.Snapshot().Recent[0]
	row, err := json.Marshal(got)
	require.NoError(t, err)
	assert.Less(t, len(row), 64<<10, "one stored row")
	assert.LessOrEqual(t, len(got.Route), 256)
	assert.True(t, strings.HasPrefix(got.Route, "/v1/aaa"))
	assert.LessOrEqual(t, len(got.Model), 128)
	assert.LessOrEqual(t, len(got.Method), 32)
	assert.LessOrEqual(t, len(got.Target), 128)
	assert.LessOrEqual(t, len(got.Error), 512)
	assert.True(t, utf8.ValidString(got.Error), "cut at a character boundary")
	assert.LessOrEqual(t, len(got.Attempts), 101)
	for _, a := range got.Attempts {
		assert.LessOrEqual(t, len(a.Target), 128)
		assert.LessOrEqual(t, len(a.Reason), 32)
	}
}

func TestCapString(t *testing.T) {
	s := "short"
	capString(&s, 10)
	assert.Equal(t, "short", s)
	s = strings.Repeat("ab", 10)
	capString(&s, 10)
	assert.Equal(t, "abababa…", s)
	assert.LessOrEqual(t, len(s), 10)
	s = strings.Repeat("日", 10)
	capString(&s, 10)
	assert.True(t, utf8.ValidString(s))
	assert.LessOrEqual(t, len(s), 10)
}
