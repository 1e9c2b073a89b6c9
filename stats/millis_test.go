package stats

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendMillis_SameAsStrconv: for whole microseconds (the records'
// durations) and for any other float, AppendMillis writes what strconv
// writes, in both formats the proxy uses.
func TestAppendMillis_SameAsStrconv(t *testing.T) {
	var xs []float64
	for _, us := range []int64{0, 1, 9, 10, 100, 999, 1000, 1001, 1010, 1100, 2191, 75418, 999999, 1000000, 123456789, 999999999, 1000000000, 1000000001} {
		xs = append(xs, float64(us)/1000)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		xs = append(xs, float64(r.Int64N(2_000_000_000))/1000)
	}
	xs = append(xs, 0.0001, 1e-7, 2.5e-4, 0.1+0.2, math.Pi, -1.5, -0.001, 1e6, 1e21, math.Inf(1), math.NaN(), math.MaxFloat64, math.SmallestNonzeroFloat64, math.Copysign(0, -1))
	for _, x := range xs {
		for _, format := range []byte{'f', 'g'} {
			want := strconv.AppendFloat(nil, x, format, -1, 64)
			if got := AppendMillis(nil, x, format); string(got) != string(want) {
				t.Fatalf("AppendMillis(%v, %c) = %s, strconv %s", x, format, got, want)
			}
		}
	}
}

func BenchmarkAppendMillis(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.Run("millis", func(b *testing.B) {
		for b.Loop() {
			buf = AppendMillis(buf[:0], 75.418, 'f')
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for b.Loop() {
			buf = strconv.AppendFloat(buf[:0], 75.418, 'f', -1, 64)
		}
	})
}
