package stats

import (
	"sync/atomic"
	"time"
)

// secondText is one second's date and time as RFC 3339 text without its
// fraction ("2006-01-02T15:04:05") and its zone ("Z" or "+07:00").
type secondText struct {
	sec  int64
	loc  *time.Location
	date [19]byte
	zone []byte
}

// lastSecond holds the second formatted last: records and log lines of one
// second share it, so a time is written by copying it and appending the
// fraction (time.AppendFormat parses its layout and computes the calendar
// date for every call).
var lastSecond atomic.Pointer[secondText]

// AppendRFC3339 appends t as t.AppendFormat(b, time.RFC3339Nano) would
// when millis is false, and as log/slog writes times (exactly three
// fraction digits, truncated) when millis is true.
func AppendRFC3339(b []byte, t time.Time, millis bool) []byte {
	sec := t.Unix()
	st := lastSecond.Load()
	if st == nil || st.sec != sec || st.loc != t.Location() {
		if y := t.Year(); y < 0 || y > 9999 {
			return appendRFC3339Slow(b, t, millis)
		}
		st = &secondText{sec: sec, loc: t.Location()}
		copy(st.date[:], t.AppendFormat(st.date[:0], "2006-01-02T15:04:05"))
		st.zone = t.AppendFormat(nil, "Z07:00")
		lastSecond.Store(st)
	}
	b = append(b, st.date[:]...)
	ns := t.Nanosecond()
	if millis {
		ms := ns / 1e6
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	} else if ns != 0 {
		var d [10]byte
		d[0] = '.'
		for i := 9; i >= 1; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, st.zone...)
}

// appendRFC3339Slow is AppendRFC3339 by time.AppendFormat.
func appendRFC3339Slow(b []byte, t time.Time, millis bool) []byte {
	if !millis {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}
