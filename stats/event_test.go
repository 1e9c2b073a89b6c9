package stats

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvent_MarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string // a fragment of the encoding
	}{
		{name: "no attempts", e: Event{ID: 1}, want: `"attempts":[]`},
		{name: "attempts", e: Event{Attempts: []Attempt{{Target: "t1", Status: 429, Reason: "rate_limit"}}},
			want: `"attempts":[{"target":"t1","status":429,"reason":"rate_limit","duration_ms":0}]`},
		{name: "no error omitted", e: Event{}, want: `"terminal":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []any{tt.e, &tt.e} {
				b, err := json.Marshal(v)
				require.NoError(t, err)
				assert.Contains(t, string(b), tt.want)
				var back Event
				require.NoError(t, json.Unmarshal(b, &back))
				assert.Equal(t, tt.e.ID, back.ID)
			}
		})
	}
}

func TestEvent_Retries(t *testing.T) {
	tests := []struct {
		attempts int
		want     int
	}{{0, 0}, {1, 0}, {3, 2}}
	for _, tt := range tests {
		e := Event{Attempts: make([]Attempt, tt.attempts)}
		assert.Equal(t, tt.want, e.Retries(), "%d attempts", tt.attempts)
	}
}
