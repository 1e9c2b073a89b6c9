package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sessions keeps dashboard sessions in the sessions table, by the SHA-256
// digest of their token (never the token), so that a login on one replica
// is valid on all, and a logout on one ends the session everywhere (NOTIFY).
type Sessions struct{ s *Store }

// sessionTimeout bounds each session query: a login or a page load may wait
// this long for the database, the proxy path never does.
const sessionTimeout = 2 * time.Second

// Sessions returns the shared session table of this store.
func (s *Store) Sessions() *Sessions { return &Sessions{s: s} }

// Save stores a session digest until expires.
func (x *Sessions) Save(id [32]byte, expires time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	_, err := x.s.pool.Exec(ctx, `INSERT INTO sessions (hash, expires) VALUES ($1, $2)
		ON CONFLICT (hash) DO UPDATE SET expires = excluded.expires`, id[:], expires)
	return err
}

// Lookup returns a session's expiry; ok is false when it is unknown or expired.
func (x *Sessions) Lookup(id [32]byte) (expires time.Time, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	err = x.s.pool.QueryRow(ctx, "SELECT expires FROM sessions WHERE hash = $1 AND expires > now()", id[:]).Scan(&expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return expires, err == nil, err
}

// Delete ends a session everywhere: the row goes and the other replicas
// hear it (OnEnd) in the same transaction.
func (x *Sessions) Delete(id [32]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	data, _ := json.Marshal(hex.EncodeToString(id[:])) // a string always encodes
	payload, _ := json.Marshal(notice{Kind: "logout", Replica: x.s.opts.Replica, Data: data})
	return pgx.BeginFunc(ctx, x.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE hash = $1", id[:]); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload))
		return err
	})
}

// OnEnd registers f for sessions ended on other replicas. f runs on the
// listener goroutine: it must be quick.
func (x *Sessions) OnEnd(f func(id [32]byte)) {
	x.s.OnNotify("logout", func(data []byte) {
		var h string
		if json.Unmarshal(data, &h) != nil {
			return
		}
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return
		}
		f([32]byte(b))
	})
}
