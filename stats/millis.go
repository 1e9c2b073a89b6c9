package stats

import (
	"math"
	"strconv"
)

// AppendMillis appends x, a duration in milliseconds, exactly as
// strconv.AppendFloat(b, x, 'f', -1, 64) would, and as 'g' would too in the
// range it takes. The records' durations are whole microseconds (see ms in
// handlers): for those, between 0 and a million milliseconds, the digits
// are written from the integer count of microseconds, without the shortest
// float formatting that took 5% of the proxy's instructions per request
// (three durations in the log line, three or more in the record). Any other
// value goes to strconv.
func AppendMillis(b []byte, x float64, format byte) []byte {
	if !(x >= 0 && x < 1e6) || math.Signbit(x) {
		return strconv.AppendFloat(b, x, format, -1, 64)
	}
	us := int64(math.Round(x * 1000))
	if float64(us)/1000 != x {
		return strconv.AppendFloat(b, x, format, -1, 64)
	}
	// x's shortest decimal is us/1000 itself: any other decimal with at
	// most three fraction digits lies 0.001 away, far outside the
	// interval of reals that round to x.
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	d := [4]byte{'.', byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 4
	for d[n-1] == '0' {
		n--
	}
	return append(b, d[:n]...)
}
