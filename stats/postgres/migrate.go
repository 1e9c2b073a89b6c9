package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLock is the advisory lock key held while migrating and
// registering a replica ("llmproxy" in ASCII), so that replicas starting at
// once take turns.
const migrationLock = 0x6c6c6d70726f7879

// migrations are the schema steps, in order; schema_version holds how many
// have run. Append new steps, never edit old ones. The tables mirror the
// SQLite store's, with a replica column where replicas differ.
var migrations = []string{
	// 1: the request log, each replica's counters and series, the replicas,
	// the dashboard sessions and the shared cooldowns.
	`CREATE TABLE requests (
		id      bigint PRIMARY KEY, -- Event.ID: replica number << 40 + sequence
		time    bigint NOT NULL,    -- Event.Time, Unix milliseconds
		replica text   NOT NULL,
		event   text   NOT NULL     -- the Event as JSON
	);
	CREATE INDEX requests_time ON requests (time);
	CREATE TABLE counters (
		replica       text PRIMARY KEY,
		requests      bigint NOT NULL,
		successes     bigint NOT NULL,
		rate_limits   bigint NOT NULL,
		retries       bigint NOT NULL,
		client_gone   bigint NOT NULL,
		input_tokens  bigint NOT NULL,
		output_tokens bigint NOT NULL,
		last_id       bigint NOT NULL
	);
	CREATE TABLE series (
		replica     text   NOT NULL,
		t           bigint NOT NULL, -- Unix second
		requests    bigint NOT NULL,
		failures    bigint NOT NULL,
		latency_sum double precision NOT NULL,
		PRIMARY KEY (t, replica)
	);
	CREATE TABLE replicas (
		name       text PRIMARY KEY,
		num        integer NOT NULL UNIQUE,
		version    text NOT NULL,
		started_at timestamptz NOT NULL,
		last_seen  timestamptz NOT NULL,
		in_flight  bigint NOT NULL DEFAULT 0
	);
	CREATE TABLE sessions (
		hash    bytea PRIMARY KEY, -- SHA-256 of the session token
		expires timestamptz NOT NULL
	);
	CREATE TABLE cooldowns (
		target text NOT NULL,
		model  text NOT NULL, -- "" for the whole target
		until  timestamptz NOT NULL,
		reason text NOT NULL,
		PRIMARY KEY (target, model)
	);`,
	// 2: key health beside cooldowns (routing's shared state): a kind per
	// row, and the flags a change carries.
	`ALTER TABLE cooldowns
		ADD COLUMN kind   text    NOT NULL DEFAULT 'cool', -- "cool" or "disable"
		ADD COLUMN quota  boolean NOT NULL DEFAULT false,
		ADD COLUMN capped boolean NOT NULL DEFAULT false;
	ALTER TABLE cooldowns DROP CONSTRAINT cooldowns_pkey;
	ALTER TABLE cooldowns ADD PRIMARY KEY (kind, target, model);`,
}

// migrate brings the schema up to date and registers replica, all in one
// transaction under the advisory lock. It returns the replica's number.
func migrate(ctx context.Context, pool *pgxpool.Pool, replica, version string) (int64, error) {
	var num int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"); err != nil {
			return err
		}
		var v int
		err := tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
		switch {
		case err == pgx.ErrNoRows:
			if _, err := tx.Exec(ctx, "INSERT INTO schema_version VALUES (0)"); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if v > len(migrations) {
			return &FatalError{fmt.Errorf("schema version %d is newer than this program knows (%d)", v, len(migrations))}
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE schema_version SET version = $1", v); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO replicas (name, num, version, started_at, last_seen)
			VALUES ($1, (SELECT COALESCE(MAX(num), 0) + 1 FROM replicas), $2, now(), now())
			ON CONFLICT (name) DO UPDATE SET version = excluded.version, started_at = now(), last_seen = now()
			RETURNING num`, replica, version).Scan(&num)
	})
	return num, err
}
