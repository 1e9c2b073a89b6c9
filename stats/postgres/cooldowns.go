package postgres

import (
	"context"
	"encoding/json"
	"time"
)

// Change kinds of routing state shared between replicas.
const (
	// ChangeCool: (Target, Model) cools down until Until.
	ChangeCool = "cool"
	// ChangeDisable: Target's key is unusable (Reason, Quota); Until is
	// when it is checked next. It holds until a ChangeEnable.
	ChangeDisable = "disable"
	// ChangeEnable: Target's key works again.
	ChangeEnable = "enable"
)

// Change is one change of routing state (cooldowns, key health) that a
// replica learned and the others must honour.
type Change struct {
	Kind   string    `json:"kind"`
	Target string    `json:"target"`
	Model  string    `json:"model,omitempty"` // "" for the whole target
	Until  time.Time `json:"-"`               // travels as RemainingMs
	Reason string    `json:"reason,omitempty"`
	Quota  bool      `json:"quota,omitempty"`
	Capped bool      `json:"capped,omitempty"`
	// RemainingMs is Until as a duration from when it was sent: each
	// replica ends a cooldown by its own clock, so clocks need not agree.
	RemainingMs int64 `json:"remaining_ms"`
}

// Cooldowns shares routing state between replicas: each change goes to the
// cooldowns table (so a replica that starts later reads what is in force)
// and, at once, to the others through NOTIFY. Sharing never blocks the
// caller; when the database is away, changes stay local.
type Cooldowns struct {
	s     *Store
	apply func(Change)
	queue chan Change
}

// cooldownQueue bounds the changes waiting to be shared; beyond it they
// stay local.
const cooldownQueue = 256

// Cooldowns starts sharing: apply is called (on the listener goroutine, so
// it must be quick) with each change another replica makes, and now with
// what is in force in the table (again after a lost LISTEN connection).
func (s *Store) Cooldowns(apply func(Change)) *Cooldowns {
	c := &Cooldowns{s: s, apply: apply, queue: make(chan Change, cooldownQueue)}
	s.OnNotify("cooldown", func(data []byte) {
		var ch Change
		if json.Unmarshal(data, &ch) == nil && ch.Kind != "" {
			ch.Until = time.Now().Add(time.Duration(ch.RemainingMs) * time.Millisecond)
			apply(ch)
		}
	})
	load := func(ctx context.Context) {
		if err := c.load(ctx); err != nil {
			s.log.Warn("cooldowns: reading those in force", "err", describe(err))
		}
	}
	s.OnResync(load)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	load(ctx)
	s.wg.Add(1)
	go c.run()
	return c
}

// load applies what is in force in the table: running cooldowns and
// disabled keys.
func (c *Cooldowns) load(ctx context.Context) error {
	rows, err := c.s.pool.Query(ctx, `SELECT kind, target, model, reason, quota, capped,
		(EXTRACT(EPOCH FROM (until - now())) * 1000)::bigint
		FROM cooldowns WHERE kind = 'disable' OR until > now()`)
	if err != nil {
		return err
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var ch Change
		if err := rows.Scan(&ch.Kind, &ch.Target, &ch.Model, &ch.Reason, &ch.Quota, &ch.Capped, &ch.RemainingMs); err != nil {
			return err
		}
		ch.Until = now.Add(time.Duration(ch.RemainingMs) * time.Millisecond)
		c.apply(ch)
	}
	return rows.Err()
}

// Learned implements upstream.CooldownShare: a cooldown of (target, model).
func (c *Cooldowns) Learned(target, model string, until time.Time) {
	c.Share(Change{Kind: ChangeCool, Target: target, Model: model, Until: until})
}

// Share queues ch for the other replicas and never blocks (a full queue
// keeps it local).
func (c *Cooldowns) Share(ch Change) {
	ch.RemainingMs = time.Until(ch.Until).Milliseconds()
	select {
	case c.queue <- ch:
	default:
	}
}

// run writes and announces queued changes until the store stops.
func (c *Cooldowns) run() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.s.stop:
			return
		case ch := <-c.queue:
			if err := c.share(ch); err != nil {
				c.s.log.Warn("cooldowns: not shared (other replicas learn it themselves)", "target", ch.Target, "err", describe(err))
			}
		}
	}
}

// share records ch in the table and notifies, in one transaction.
func (c *Cooldowns) share(ch Change) error {
	ctx, cancel := context.WithTimeout(c.s.stopCtx, 2*time.Second)
	defer cancel()
	data, err := json.Marshal(ch)
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
	switch ch.Kind {
	case ChangeEnable:
		_, err = tx.Exec(ctx, "DELETE FROM cooldowns WHERE kind = 'disable' AND target = $1", ch.Target)
	default:
		_, err = tx.Exec(ctx, `INSERT INTO cooldowns (kind, target, model, until, reason, quota, capped)
			VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond', $5, $6, $7)
			ON CONFLICT (kind, target, model) DO UPDATE SET
			until = CASE WHEN excluded.kind = 'cool' THEN GREATEST(cooldowns.until, excluded.until) ELSE excluded.until END,
			reason = excluded.reason, quota = excluded.quota, capped = excluded.capped`,
			ch.Kind, ch.Target, ch.Model, ch.RemainingMs, ch.Reason, ch.Quota, ch.Capped)
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
