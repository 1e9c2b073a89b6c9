package postgres

import (
	"context"
	"encoding/json"
	"time"
)

// Cooldowns shares cooldowns between replicas: a learned cooldown goes to
// the cooldowns table (so a replica that starts later reads the ones in
// force) and, at once, to the others through NOTIFY. Durations travel, not
// clock times: each replica ends the cooldown by its own clock (the table
// holds the database's clock), so clocks need not agree.
type Cooldowns struct {
	s     *Store
	apply func(target, model string, until time.Time)
	queue chan cooldown
}

type cooldown struct {
	Target string `json:"target"`
	Model  string `json:"model"`
	// RemainingMs is how long the cooldown still runs when sent.
	RemainingMs int64 `json:"remaining_ms"`
}

// cooldownQueue bounds the cooldowns waiting to be shared; beyond it they
// stay local.
const cooldownQueue = 256

// Cooldowns starts sharing: apply is called (on the listener goroutine) with
// each cooldown another replica learns, and now with those in force in the
// table. The returned value's Learned reports this replica's cooldowns.
func (s *Store) Cooldowns(apply func(target, model string, until time.Time)) *Cooldowns {
	c := &Cooldowns{s: s, apply: apply, queue: make(chan cooldown, cooldownQueue)}
	s.OnNotify("cooldown", func(data []byte) {
		var cd cooldown
		if json.Unmarshal(data, &cd) == nil && cd.RemainingMs > 0 {
			apply(cd.Target, cd.Model, time.Now().Add(time.Duration(cd.RemainingMs)*time.Millisecond))
		}
	})
	load := func(ctx context.Context) {
		if err := c.load(ctx); err != nil {
			s.log.Warn("cooldowns: reading those in force", "err", describe(err))
		}
	}
	s.OnResync(load) // after a lost LISTEN connection: what was missed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	load(ctx)
	s.wg.Add(1)
	go c.run()
	return c
}

// load applies the cooldowns in force in the table.
func (c *Cooldowns) load(ctx context.Context) error {
	rows, err := c.s.pool.Query(ctx, `SELECT target, model, (EXTRACT(EPOCH FROM (until - now())) * 1000)::bigint
		FROM cooldowns WHERE until > now()`)
	if err != nil {
		return err
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var cd cooldown
		if err := rows.Scan(&cd.Target, &cd.Model, &cd.RemainingMs); err != nil {
			return err
		}
		c.apply(cd.Target, cd.Model, now.Add(time.Duration(cd.RemainingMs)*time.Millisecond))
	}
	return rows.Err()
}

// Learned implements upstream.CooldownShare: it queues the cooldown for the
// sharing goroutine and never blocks (a full queue keeps it local).
func (c *Cooldowns) Learned(target, model string, until time.Time) {
	select {
	case c.queue <- cooldown{Target: target, Model: model, RemainingMs: time.Until(until).Milliseconds()}:
	default:
	}
}

// run writes and announces queued cooldowns until the store stops.
func (c *Cooldowns) run() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.s.stop:
			return
		case cd := <-c.queue:
			if err := c.share(cd); err != nil {
				c.s.log.Warn("cooldowns: not shared (other replicas learn it themselves)", "target", cd.Target, "err", describe(err))
			}
		}
	}
}

// share upserts the cooldown (keeping a later end) and notifies, in one transaction.
func (c *Cooldowns) share(cd cooldown) error {
	ctx, cancel := context.WithTimeout(c.s.stopCtx, 2*time.Second)
	defer cancel()
	data, err := json.Marshal(cd)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(notice{Kind: "cooldown", Replica: c.s.opts.Replica, Data: data})
	if err != nil {
		return err
	}
	tx, err := c.s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO cooldowns (target, model, until, reason)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond', 'retry-after')
		ON CONFLICT (target, model) DO UPDATE SET until = GREATEST(cooldowns.until, excluded.until), reason = excluded.reason`,
		cd.Target, cd.Model, cd.RemainingMs); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
