package stats

import "unicode/utf8"

// Caps on what one record may store. A request path is client-chosen and
// was stored whole: 15 KB paths made 16 KB rows, and the default 100,000
// rows would have filled 1.6 GB. With these caps a row stays under ~4 KB
// whatever the client or the upstream sends.
const (
	maxRouteLen    = 256 // request path: real API paths are far shorter
	maxModelLen    = 128 // the body's "model" field
	maxNameLen     = 128 // target names
	maxWordLen     = 32  // method, family, outcome, attempt reason
	maxErrorLen    = 512 // the short error description
	maxAttemptsLen = 101 // MAX_RETRIES is at most 100: 101 attempts
)

// capStrings cuts every stored string of e to its cap (at a UTF-8 boundary,
// marked with "…") and the attempt trail to maxAttemptsLen entries. Like
// sanitize, it writes only what it changes.
func capStrings(e *Event) {
	capString(&e.Route, maxRouteLen)
	capString(&e.Model, maxModelLen)
	capString(&e.Target, maxNameLen)
	capString(&e.Method, maxWordLen)
	capString((*string)(&e.Family), maxWordLen)
	capString((*string)(&e.Outcome), maxWordLen)
	capString(&e.Error, maxErrorLen)
	if len(e.Attempts) > maxAttemptsLen {
		e.Attempts = e.Attempts[:maxAttemptsLen]
	}
	for i := range e.Attempts {
		capString(&e.Attempts[i].Target, maxNameLen)
		capString(&e.Attempts[i].Reason, maxWordLen)
	}
}

// capString cuts *s to at most limit bytes, ending in "…" when cut.
func capString(s *string, limit int) {
	if len(*s) <= limit {
		return
	}
	const mark = "…"
	cut := limit - len(mark)
	for cut > 0 && !utf8.RuneStart((*s)[cut]) {
		cut--
	}
	*s = (*s)[:cut] + mark
}
