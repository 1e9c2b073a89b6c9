package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
)

// BenchmarkStore_Add measures how many records per second the PostgreSQL
// store writes (COPY in batches, default flush interval), from Add to
// committed: the REPLICAS.md bar is 20,000 records/s.
//
//	go test -run '^$' -bench Store_Add -benchtime 100000x ./stats/postgres
func BenchmarkStore_Add(b *testing.B) {
	url := pgtest.NewDatabase(b, "")
	s, err := postgres.Open(context.Background(), postgres.Options{
		URL: url, Replica: "bench", Version: "bench", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	got, err := s.Restore(1)
	if err != nil {
		b.Fatal(err)
	}
	c := got.Counters
	events := make([]*stats.Event, b.N)
	for i := range events {
		events[i] = &stats.Event{
			Time: time.Now(), Method: "POST", Route: "/v1/chat/completions", Family: stats.FamilyOpenAI,
			Model: "gpt-4o-mini", Status: 200, Outcome: stats.OutcomeOK, Target: "api.openai.com", Replica: "bench",
			Attempts:  []stats.Attempt{{Target: "api.openai.com", Status: 200, Reason: "ok", DurationMs: 412.5}},
			LatencyMs: 950.25, TTFBMs: 412.5, InputTokens: 1200, OutputTokens: 345, Terminal: true, Stream: true,
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i, e := range events {
		c.LastID++
		c.Requests++
		c.Successes++
		e.ID = c.LastID
		s.Add(e, start.Unix()+int64(i/20000), c)
	}
	if err := s.Sync(c); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "records/s")
	if b.N >= 10000 && rate < 20000 {
		b.Errorf("%.0f records/s, below REPLICAS.md's 20,000", rate)
	}
	if h := s.Health(); h.Dropped != 0 {
		b.Fatalf("%d records dropped", h.Dropped)
	}
}
