package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
)

func TestRefusedData(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"23505", true},  // unique_violation: the same batch fails again
		{"22021", true},  // character_not_in_repertoire
		{"42P01", true},  // undefined_table
		{"54000", true},  // program_limit_exceeded
		{"57P01", false}, // admin_shutdown: the server is going away (pg_ctl stop -m fast)
		{"57P03", false}, // cannot_connect_now: starting up
		{"08006", false}, // connection_failure
		{"53300", false}, // too_many_connections
		{"40001", false}, // serialization_failure
		{"", false},
	}
	for _, tt := range tests {
		got := refusedData(&pgconn.PgError{Code: tt.code})
		assert.Equal(t, tt.want, got, tt.code)
	}
}

// TestStore_FullQueueDropsTheOldest: records beyond MaxQueue drop the oldest
// waiting ones, counted; the newest are written when the database takes them.
func TestStore_FullQueueDropsTheOldest(t *testing.T) {
	s, err := Open(context.Background(), Options{URL: pgtest.NewDatabase(t, ""), Replica: "q", Version: "test",
		MaxQueue: 3, FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer s.Close()
	var c stats.Counters
	for i := 1; i <= 5; i++ {
		c.LastID, c.Requests = int64(i), int64(i)
		s.Add(&stats.Event{ID: int64(i), Time: time.Now(), Method: "POST", Route: "/v1/chat/completions", Status: 200, Outcome: stats.OutcomeOK}, time.Now().Unix(), c)
	}
	assert.Equal(t, uint64(2), s.Health().Dropped)
	require.NoError(t, s.Sync(c))
	got, err := s.Restore(10)
	require.NoError(t, err)
	var ids []int64
	for _, e := range got.Recent {
		ids = append(ids, e.ID)
	}
	assert.ElementsMatch(t, []int64{3, 4, 5}, ids)
}
