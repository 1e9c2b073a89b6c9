package stats

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

func fullEvent() *Event {
	return &Event{
		ID: 42, Time: time.Date(2026, 12, 1, 23, 2, 33, 123456789, time.UTC),
		Method: "POST", Route: "/v1/chat/completions", Family: FamilyOpenAI, Model: "gpt-4o-mini",
		Stream: true, Status: 200, Outcome: OutcomeOK, Target: "api.openai.com",
		Attempts: []Attempt{
			{Target: "a", Status: 429, Reason: "rate_limit", DurationMs: 1.5},
			{Target: "b", Status: 502, Reason: "connect_error", Cause: "reset", DurationMs: 0.000123},
		},
		RateLimits: 1, LatencyMs: 123.456, TTFBMs: 7, InputTokens: 12, OutputTokens: 34,
		Terminal: true, Error: "x",
	}
}

// TestEvent_appendJSON_everyField sets every field of Event (and of
// Attempt) to a non-zero value by reflection, so a field added to the
// struct but not to appendJSON fails here, omitempty or not.
func TestEvent_appendJSON_everyField(t *testing.T) {
	e := &Event{}
	fill(t, reflect.ValueOf(e).Elem())
	checkJSON(t, "every field non-zero", e)
	if data, _ := json.Marshal(e); bytes.Contains(data, []byte(`:""`)) || bytes.Contains(data, []byte(`:0,`)) {
		t.Errorf("fill left a zero value: %s", data)
	}
}

// fill sets every exported field of v to a non-zero value.
func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(sf.Name + " <&> \u2028")
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 7))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.25)
		case reflect.Slice:
			s := reflect.MakeSlice(f.Type(), 2, 2)
			for j := range 2 {
				fill(t, s.Index(j))
			}
			f.Set(s)
		case reflect.Struct:
			if f.Type() == reflect.TypeFor[time.Time]() {
				f.Set(reflect.ValueOf(time.Date(2026, 12, 1, 23, 2, 33, 5, time.UTC)))
				continue
			}
			fill(t, f)
		default:
			t.Fatalf("field %s: kind %v: teach fill (and appendJSON) about it", sf.Name, f.Kind())
		}
	}
}

func checkJSON(t *testing.T, name string, e *Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	got, gotErr := e.appendJSON([]byte("prefix"))
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json's %v", name, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if string(got) != "prefix"+string(want) {
		t.Errorf("%s:\ngot  %s\nwant prefix%s", name, got, want)
	}
}

func TestEvent_appendJSON(t *testing.T) {
	cases := map[string]func(*Event){
		"every field set": func(*Event) {},
		"replica":         func(e *Event) { e.Replica = "eu-1" },
		"zero event":      func(e *Event) { *e = Event{} },
		"no error":        func(e *Event) { e.Error = "" },
		"empty trail":     func(e *Event) { e.Attempts = []Attempt{} },
		"nil trail":       func(e *Event) { e.Attempts = nil },
		"escapes":         func(e *Event) { e.Model = "<a href=\"x\">&\\\b\f\n\r\t\x00\x1f\x7f</a>" },
		"utf-8":           func(e *Event) { e.Error = "模型 \u2028 \u2029 \ufffd caf\xc3 \xff" },
		"floats":          func(e *Event) { e.LatencyMs, e.TTFBMs = 1e21, 1e-7 },
		"small floats":    func(e *Event) { e.LatencyMs, e.TTFBMs = -1e-6, 999999999999999999999.0 },
		"negative zero":   func(e *Event) { e.LatencyMs = math.Copysign(0, -1) },
		"NaN":             func(e *Event) { e.LatencyMs = math.NaN() },
		"Inf in trail":    func(e *Event) { e.Attempts[0].DurationMs = math.Inf(1) },
		"year 10000":      func(e *Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":         func(e *Event) { e.Time = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"local zone":      func(e *Event) { e.Time = e.Time.In(time.FixedZone("X", -(9*3600 + 30*60))) },
		"odd zone":        func(e *Event) { e.Time = e.Time.In(time.FixedZone("Y", 25*3600)) },
		"monotonic":       func(e *Event) { e.Time = time.Now() },
		"zero time":       func(e *Event) { e.Time = time.Time{} },
		"big ints":        func(e *Event) { e.ID, e.Status, e.InputTokens = math.MaxInt64, -1, math.MinInt },
	}
	for name, edit := range cases {
		e := fullEvent()
		edit(e)
		checkJSON(t, name, e)
	}
}

func FuzzEvent_appendJSON(f *testing.F) {
	f.Add("POST", "/v1/x", "m", "t", "err <&>", "ok", 1.5, 0.25, int64(1), true)
	f.Add("", "", "\xff\u2028", "", "", "", math.Inf(1), 1e-9, int64(-5), false)
	f.Fuzz(func(t *testing.T, method, route, model, target, errText, reason string, lat, dur float64, unix int64, stream bool) {
		e := &Event{
			ID: unix, Time: time.Unix(unix%(1<<36), unix%1e9).UTC(), Method: method, Route: route, Model: model,
			Target: target, Error: errText, Stream: stream, LatencyMs: lat, TTFBMs: -lat,
			Attempts: []Attempt{{Target: target, Reason: reason, DurationMs: dur}},
		}
		checkJSON(t, "fuzz", e)
	})
}

func BenchmarkEvent_appendJSON(b *testing.B) {
	e := fullEvent()
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = e.appendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(e)
		}
	})
}

// TestEvent_appendJSON_routingFieldsLostInStore: the store's encoder wrote
// no served_model, fallbacks or attempt model, so a restart lost them.
func TestEvent_appendJSON_routingFieldsLostInStore(t *testing.T) {
	e := fullEvent()
	e.ServedModel, e.Fallbacks = "gpt-4o-mini", 1
	e.Attempts[0].Model, e.Attempts[1].Model = "gpt-4o", "gpt-4o-mini"
	checkJSON(t, "routing file fields", e)
}
