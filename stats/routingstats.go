package stats

import (
	"sort"
	"time"
)

// Per-target and per-model figures for a routing file (ROUTING.md,
// Dashboard). They are kept only for requests routed by a routing file
// (Event.ServedModel set), so without a file nothing here costs anything.

// targetWindowSize is how many latest attempts per target are kept for the
// 5-minute figures.
const targetWindowSize = 1024

// targetWindowSpan is the span of the per-target figures.
const targetWindowSpan = 5 * time.Minute

// maxModelRows bounds the per-model table (model names come from clients);
// beyond it, models are counted under "(other)".
const maxModelRows = 200

// TargetWindow is one target's attempts over the last 5 minutes.
type TargetWindow struct {
	Name     string  `json:"name"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	P50Ms    float64 `json:"p50_ms"`
}

// ModelRow is one model's figures: requested as Model by clients.
type ModelRow struct {
	Model        string `json:"model"`
	Requests     int64  `json:"requests"`
	Failures     int64  `json:"failures"`
	Fallbacks    int64  `json:"fallbacks"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// ModelTable is the "by model" table: today (UTC) and since start.
type ModelTable struct {
	Day        string     `json:"day"`
	Today      []ModelRow `json:"today"`
	SinceStart []ModelRow `json:"since_start"`
}

type attemptRing struct {
	at   [targetWindowSize]int64 // unix milliseconds
	ms   [targetWindowSize]float64
	fail [targetWindowSize]bool
	next int
	n    int
}

type routingStats struct {
	targets map[string]*attemptRing
	order   []string
	day     string
	dayNum  int64 // Unix days of day: compared per request, day formatted only when it changes
	today   map[string]*ModelRow
	total   map[string]*ModelRow
}

// add counts one finished request routed by a routing file; call with r.mu held.
func (rs *routingStats) add(e *Event, now time.Time) {
	if rs.targets == nil {
		rs.targets, rs.today, rs.total = map[string]*attemptRing{}, map[string]*ModelRow{}, map[string]*ModelRow{}
	}
	ms := now.UnixMilli()
	for _, a := range e.Attempts {
		ring := rs.targets[a.Target]
		if ring == nil {
			ring = &attemptRing{}
			rs.targets[a.Target] = ring
			rs.order = append(rs.order, a.Target)
		}
		ring.at[ring.next], ring.ms[ring.next], ring.fail[ring.next] = ms, a.DurationMs, a.Reason != "ok"
		ring.next = (ring.next + 1) % targetWindowSize
		ring.n = min(ring.n+1, targetWindowSize)
	}
	if n := now.Unix() / 86400; n != rs.dayNum || rs.day == "" {
		rs.day, rs.dayNum, rs.today = now.UTC().Format("2006-01-02"), n, map[string]*ModelRow{}
	}
	for _, m := range []map[string]*ModelRow{rs.today, rs.total} {
		name := e.Model
		row := m[name]
		if row == nil {
			if len(m) >= maxModelRows {
				name = "(other)"
				row = m[name]
			}
			if row == nil {
				row = &ModelRow{Model: name}
				m[name] = row
			}
		}
		row.Requests++
		if !e.Success() {
			row.Failures++
		}
		row.Fallbacks += int64(e.Fallbacks)
		row.InputTokens += int64(e.InputTokens)
		row.OutputTokens += int64(e.OutputTokens)
	}
}

// windows returns the per-target figures over the last 5 minutes; call with r.mu held (read).
func (rs *routingStats) windows(now time.Time) []TargetWindow {
	if rs.targets == nil {
		return nil
	}
	from := now.Add(-targetWindowSpan).UnixMilli()
	out := make([]TargetWindow, 0, len(rs.order))
	var lat []float64
	for _, name := range rs.order {
		ring := rs.targets[name]
		w := TargetWindow{Name: name}
		lat = lat[:0]
		for i := 0; i < ring.n; i++ {
			if ring.at[i] < from {
				continue
			}
			w.Requests++
			if ring.fail[i] {
				w.Errors++
			}
			lat = append(lat, ring.ms[i])
		}
		if len(lat) > 0 {
			sort.Float64s(lat)
			w.P50Ms = lat[(len(lat)-1)/2]
		}
		out = append(out, w)
	}
	return out
}

// table returns the "by model" table, most requested first; call with r.mu held (read).
func (rs *routingStats) table() *ModelTable {
	if rs.targets == nil {
		return nil
	}
	rows := func(m map[string]*ModelRow) []ModelRow {
		out := make([]ModelRow, 0, len(m))
		for _, r := range m {
			out = append(out, *r)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Requests != out[j].Requests {
				return out[i].Requests > out[j].Requests
			}
			return out[i].Model < out[j].Model
		})
		return out
	}
	return &ModelTable{Day: rs.day, Today: rows(rs.today), SinceStart: rows(rs.total)}
}
