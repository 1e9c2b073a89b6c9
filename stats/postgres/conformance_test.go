package postgres_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
	"github.com/llm-proxy/llm-proxy/stats/storetest"
)

func TestStore_conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		url := pgtest.NewDatabase(t, "")
		return func(o storetest.Options) (stats.Store, error) {
			s, err := postgres.Open(context.Background(), postgres.Options{
				URL: url, Replica: "r1", Version: "test",
				RetentionRows: o.RetentionRows, RetentionDays: o.RetentionDays, FlushInterval: o.FlushInterval,
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	})
}
