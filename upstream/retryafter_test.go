package upstream

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		ms, header string
		want       time.Duration
		ok         bool
	}{
		{"absent", "", "", 0, false},
		{"seconds", "", "7", 7 * time.Second, true},
		{"fractional seconds", "", "1.5", 1500 * time.Millisecond, true},
		{"zero", "", "0", 0, true},
		{"spaces", "", "  3 ", 3 * time.Second, true},
		{"http date", "", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"http date in the past", "", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"ms wins", "1500", "30", 1500 * time.Millisecond, true},
		{"bad ms falls back", "soon", "2", 2 * time.Second, true},
		{"negative", "", "-5", 0, false},
		{"garbage", "", "tomorrow", 0, false},
		{"NaN", "", "NaN", 0, false},
		{"huge capped", "", "99999999", maxRetryAfter, true},
		{"date far ahead capped", "", now.Add(72 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tt.ms, tt.header, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "1.5", "-1", "Fri, 27 Nov 2026 12:00:00 GMT", "NaN", "Inf", "1e309"} {
		f.Add("", s)
		f.Add(s, "")
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, ms, header string) {
		d, ok := ParseRetryAfter(ms, header, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q, %q) = %v out of range", ms, header, d)
		}
		if !ok && d != 0 {
			t.Fatalf("not ok but %v", d)
		}
	})
}

func TestRetryAfterSeconds(t *testing.T) {
	assert.Equal(t, "1", RetryAfterSeconds(10*time.Millisecond))
	assert.Equal(t, "2", RetryAfterSeconds(1100*time.Millisecond))
	assert.Equal(t, "30", RetryAfterSeconds(30*time.Second))
}
