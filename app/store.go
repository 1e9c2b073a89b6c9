package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres"
)

// replicaName is REPLICA_NAME, or <hostname>:<port> so that two replicas
// on one host differ.
func (c *Config) replicaName() string {
	if c.ReplicaName != "" {
		return c.ReplicaName
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return net.JoinHostPort(host, strconv.Itoa(c.Port))
}

// openStore opens the store the configuration asks for: PostgreSQL with
// DATABASE_URL, else SQLite at DB_PATH, else none (DB_PATH=memory). An
// unreachable PostgreSQL is retried with backoff until SIGTERM/SIGINT; a
// wrong password or a missing database is a *ConfigError at once.
func (a *App) openStore(inFlight prometheus.Gauge) error {
	cfg := a.cfg
	if cfg.DatabaseURL != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		st, err := postgres.Open(ctx, postgres.Options{
			URL:           cfg.DatabaseURL,
			Replica:       a.replica,
			Version:       a.version,
			RetentionRows: cfg.RetentionRows,
			RetentionDays: cfg.RetentionDays,
			FlushInterval: cfg.FlushInterval,
			InFlight:      func() int64 { return gaugeValue(inFlight) },
			Logger:        a.log,
		})
		if err != nil {
			var fe *postgres.FatalError
			if errors.As(err, &fe) {
				return &ConfigError{"DATABASE_URL", fe.Error()}
			}
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		a.store, a.pg = st, st
		return nil
	}
	if cfg.DBPath == "memory" {
		return nil
	}
	st, err := stats.OpenStore(stats.StoreOptions{
		Path:          cfg.DBPath,
		RetentionRows: cfg.RetentionRows,
		RetentionDays: cfg.RetentionDays,
		FlushInterval: cfg.FlushInterval,
		Logger:        a.log, // its errors follow LOG_FORMAT like every other line
	})
	if err != nil {
		return &ConfigError{"DB_PATH", err.Error() + writableHint(cfg.DBPath)}
	}
	a.store = st
	return nil
}

// gaugeValue reads a gauge's current value.
func gaugeValue(g prometheus.Gauge) int64 {
	var m dto.Metric
	if g.Write(&m) != nil {
		return 0
	}
	return int64(m.GetGauge().GetValue())
}
