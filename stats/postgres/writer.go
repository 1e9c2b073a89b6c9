package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/llm-proxy/llm-proxy/stats"
)

// flushBatch is the number of queued records that triggers a write before
// the flush interval is up.
const flushBatch = 2000

// writeTimeout bounds one write; a database slower than this counts as away.
const writeTimeout = 10 * time.Second

// pruneInterval is how often retention runs.
const pruneInterval = time.Minute

// recordLag bounds the time from a request's end to its Add (the
// recorder's queue): the records that completed before a batch was taken,
// less this, are in that batch or an earlier one. Other replicas' live
// feeds wait for that mark to show every replica's requests in order.
const recordLag = 50 * time.Millisecond

// Restore implements stats.Store: this replica's counters (LastID at least
// its number << 40), the newest events of every replica and this replica's
// series of the last 10 minutes.
func (s *Store) Restore(recent int) (stats.Restored, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out stats.Restored
	c := &out.Counters
	err := s.pool.QueryRow(ctx, `SELECT requests, successes, rate_limits, retries, client_gone,
		input_tokens, output_tokens, last_id FROM counters WHERE replica = $1`, s.opts.Replica).
		Scan(&c.Requests, &c.Successes, &c.RateLimits, &c.Retries, &c.ClientGone, &c.InputTokens, &c.OutputTokens, &c.LastID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return out, fmt.Errorf("read counters: %w", err)
	}
	base := s.num << idShift
	var maxID int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(id), 0) FROM requests WHERE id >= $1 AND id < $2",
		base, base+1<<idShift).Scan(&maxID); err != nil {
		return out, fmt.Errorf("read requests: %w", err)
	}
	c.LastID = max(c.LastID, maxID, base)

	if out.Recent, err = s.readEvents(ctx, "SELECT event FROM requests ORDER BY time DESC LIMIT $1", recent); err != nil {
		return out, fmt.Errorf("read requests: %w", err)
	}
	rows, err := s.pool.Query(ctx, "SELECT t, requests, failures, latency_sum FROM series WHERE replica = $1 AND t > $2",
		s.opts.Replica, time.Now().Unix()-600)
	if err != nil {
		return out, fmt.Errorf("read series: %w", err)
	}
	out.Series, err = pgx.CollectRows(rows, pgx.RowToStructByPos[stats.Bucket])
	if err != nil {
		return out, fmt.Errorf("read series: %w", err)
	}
	return out, nil
}

// readEvents runs a query whose one column is an event's JSON; unreadable
// rows are skipped with a warning.
func (s *Store) readEvents(ctx context.Context, sql string, args ...any) ([]*stats.Event, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*stats.Event
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		e := new(stats.Event)
		if err := json.Unmarshal(data, e); err != nil {
			s.log.Warn("stats store: skipping unreadable request", "err", err)
			continue
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Add implements stats.Store. It never waits on the database: past
// MaxQueue records the oldest waiting one is dropped and counted.
func (s *Store) Add(e *stats.Event, sec int64, c stats.Counters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.counters = c
	s.dirty = true
	b := s.buckets[sec]
	if b == nil {
		b = &stats.Bucket{T: sec}
		s.buckets[sec] = b
	}
	b.Add(e)
	if len(s.pending) >= s.opts.MaxQueue {
		// Drop the oldest: the newest matter most to the dashboard. A
		// sixteenth of the queue at a time, so that a full queue (200,000 by
		// default, during an outage) is not moved once per request.
		drop := max(1, len(s.pending)/16)
		n := copy(s.pending, s.pending[drop:])
		clear(s.pending[n:])
		s.pending = s.pending[:n]
		s.dropped += uint64(drop)
		s.logDropped += uint64(drop)
	}
	s.pending = append(s.pending, e)
	if len(s.pending) == flushBatch {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Sync implements stats.Store.
func (s *Store) Sync(c stats.Counters) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("postgres store is closed")
	}
	s.counters = c
	s.dirty = true
	s.mu.Unlock()
	answer := make(chan error, 1)
	select {
	case s.syncReq <- answer:
		return <-answer
	case <-s.stop:
		return errors.New("postgres store is closed")
	}
}

// runWriter is the writer goroutine. Writes start so that commits are at
// most FlushInterval apart: the next one starts FlushInterval after the
// previous one started (not after it ended), so a crash loses at most about
// FlushInterval of records. After a failed write it waits with backoff (up
// to 5 s) before the next try; the batch stays queued.
func (s *Store) runWriter() {
	defer s.wg.Done()
	tick := time.NewTimer(s.opts.FlushInterval)
	defer tick.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	var backoff time.Duration
	try := func() {
		began := time.Now()
		if err := s.flush(); err != nil {
			backoff = min(max(2*backoff, 250*time.Millisecond), 5*time.Second)
			tick.Reset(backoff)
			return
		}
		backoff = 0
		tick.Reset(max(s.opts.FlushInterval-time.Since(began), time.Millisecond))
	}
	for {
		select {
		case <-tick.C:
			try()
		case <-s.kick:
			if backoff == 0 {
				tick.Stop() // Go ≥ 1.23: no stale tick is delivered after Stop
				try()
			}
		case <-prune.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := s.prune(ctx); err != nil {
				s.log.Warn("stats store: retention failed", "err", describe(err))
			}
			cancel()
		case answer := <-s.syncReq:
			answer <- s.flush()
		case <-s.stop:
			// A last flush, retried for a few seconds if the database is away.
			deadline := time.Now().Add(5 * time.Second)
			err := s.flush()
			for err != nil && time.Now().Before(deadline) {
				time.Sleep(250 * time.Millisecond)
				err = s.flush()
			}
			if err != nil {
				s.closeErr = fmt.Errorf("records not stored at shutdown: %w", err)
			}
			return
		}
	}
}

// flush writes the queued records, their series seconds and the counters
// in one transaction, with a NOTIFY that tells the other replicas. On a
// connection failure everything goes back to the queue for the next try.
// With nothing to write it still tells them up to when its records are
// complete (their live feeds wait for it).
func (s *Store) flush() error {
	s.mu.Lock()
	taken := time.Now()
	if !s.dirty {
		s.mu.Unlock()
		err := s.mark(taken)
		s.noteResult(err)
		return err
	}
	batch, buckets, c := s.pending, s.buckets, s.counters
	s.pending, s.spare = s.spare[:0], nil
	s.buckets = make(map[int64]*stats.Bucket)
	s.dirty = false
	dropped := s.logDropped
	s.logDropped = 0
	s.mu.Unlock()
	if dropped > 0 {
		s.log.Warn("stats store: queue full, oldest records not stored", "count", dropped)
	}

	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	err := s.write(ctx, batch, buckets, c, taken)
	cancel()
	var pe *pgconn.PgError
	var ee *encodeError
	refused := (errors.As(err, &pe) && refusedData(pe)) || errors.As(err, &ee)
	if refused {
		s.noteResult(nil) // the database answered: it is there
	} else {
		s.noteResult(err)
	}
	switch {
	case err == nil:
		clear(batch)
		s.mu.Lock()
		s.spare = batch[:0]
		s.mu.Unlock()
		return nil
	case refused:
		// The server refused the data itself (or it does not encode):
		// retrying would fail forever.
		s.mu.Lock()
		s.dropped += uint64(len(batch))
		s.dirty = true // the counters are retried
		s.mu.Unlock()
		if pe != nil && pe.Code == "23505" { // unique_violation on requests.id
			s.log.Error("stats store: record IDs collide: another running replica uses REPLICA_NAME "+s.opts.Replica+
				" (give each replica its own name)", "count", len(batch))
			return err
		}
		s.log.Error("stats store: records refused by the database, not stored", "count", len(batch), "err", describe(err))
		return err
	default:
		s.requeue(batch, buckets)
		return err
	}
}

// refusedData reports whether the server refused the data itself, so that
// the same batch would fail again: data exceptions (class 22), integrity
// violations (23), schema errors (42) and program limits (54). Everything
// else — the server shutting down (57P01), connection and resource
// failures, serialization conflicts — is the database being away or busy:
// the batch is kept and retried.
func refusedData(pe *pgconn.PgError) bool {
	if len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "42", "54":
		return true
	}
	return false
}

// requeue puts a batch that could not be written back in front of the
// queue, keeping at most MaxQueue records (the oldest go first).
func (s *Store) requeue(batch []*stats.Event, buckets map[int64]*stats.Bucket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty = true
	for t, b := range buckets {
		if cur := s.buckets[t]; cur != nil {
			cur.Requests += b.Requests
			cur.Failures += b.Failures
			cur.LatencySum += b.LatencySum
		} else {
			s.buckets[t] = b
		}
	}
	all := append(batch, s.pending...)
	if over := len(all) - s.opts.MaxQueue; over > 0 {
		s.dropped += uint64(over)
		s.logDropped += uint64(over)
		all = all[over:]
	}
	s.pending = all
}

// encodeError is a record that could not be encoded (never retried).
type encodeError struct{ error }

func (e *encodeError) Unwrap() error { return e.error }

// notice is the NOTIFY payload on channel llmproxy.
type notice struct {
	Kind    string `json:"k"`           // "events", "mark", "logout", "cooldown"
	Replica string `json:"r"`           // the sender
	From    int64  `json:"a,omitempty"` // events: lowest and highest Event.ID of the batch
	To      int64  `json:"b,omitempty"`
	T0      int64  `json:"t0,omitempty"` // events: first and last series second touched
	T1      int64  `json:"t1,omitempty"`
	// Complete (events, mark): the sender's records that completed before
	// this Unix millisecond are in this batch or an earlier one; Every: the
	// sender's FlushInterval in milliseconds (it sends one that often).
	Complete int64 `json:"w,omitempty"`
	Every    int64 `json:"e,omitempty"`
	// Data is the payload of other kinds.
	Data json.RawMessage `json:"d,omitempty"`
}

// channel is the one NOTIFY channel every replica listens on.
const channel = "llmproxy"

// progress fills in how far the records of a batch taken at taken go.
func (s *Store) progress(n *notice, taken time.Time) {
	n.Complete = taken.Add(-recordLag).UnixMilli()
	n.Every = s.opts.FlushInterval.Milliseconds()
}

// mark tells the other replicas, with nothing new to write, up to when
// this one's records are complete.
func (s *Store) mark(taken time.Time) error {
	n := notice{Kind: "mark", Replica: s.opts.Replica}
	s.progress(&n, taken)
	payload, _ := json.Marshal(n) // a struct of plain fields always encodes
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	_, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload))
	return err
}

func (s *Store) write(ctx context.Context, batch []*stats.Event, buckets map[int64]*stats.Bucket, c stats.Counters, taken time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // no-op after Commit

	n := notice{Kind: "events", Replica: s.opts.Replica}
	s.progress(&n, taken)
	if len(batch) > 0 {
		for _, e := range batch {
			if n.From == 0 || e.ID < n.From {
				n.From = e.ID
			}
			n.To = max(n.To, e.ID)
		}
		// Rows are encoded as COPY sends them, so the JSON encoding here
		// overlaps the server's inserting.
		i := -1
		row := make([]any, 4)
		replica := any(s.opts.Replica) // boxed once, not per row
		var enc []byte
		var encErr error
		src := pgx.CopyFromFunc(func() ([]any, error) {
			i++
			if i == len(batch) {
				return nil, nil
			}
			e := batch[i]
			// enc is reused from row to row: pgx encodes a row into its COPY
			// buffer before it asks for the next one.
			data, err := e.AppendJSON(enc[:0])
			enc = data
			if err != nil {
				encErr = &encodeError{fmt.Errorf("request %d: %w", e.ID, err)}
				return nil, encErr
			}
			row[0], row[1], row[2], row[3] = e.ID, e.Time.UnixMilli(), replica, data
			return row, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"requests"}, []string{"id", "time", "replica", "event"}, src); err != nil {
			if encErr != nil {
				return encErr
			}
			return err
		}
	}
	var b pgx.Batch
	if len(buckets) > 0 {
		ts := make([]int64, 0, len(buckets))
		reqs := make([]int64, 0, len(buckets))
		fails := make([]int64, 0, len(buckets))
		lats := make([]float64, 0, len(buckets))
		for _, bk := range buckets {
			ts, reqs, fails, lats = append(ts, bk.T), append(reqs, bk.Requests), append(fails, bk.Failures), append(lats, bk.LatencySum)
			if n.T0 == 0 || bk.T < n.T0 {
				n.T0 = bk.T
			}
			n.T1 = max(n.T1, bk.T)
		}
		b.Queue(`INSERT INTO series (replica, t, requests, failures, latency_sum)
			SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::double precision[])
			ON CONFLICT (t, replica) DO UPDATE SET requests = series.requests + excluded.requests,
			failures = series.failures + excluded.failures, latency_sum = series.latency_sum + excluded.latency_sum`,
			s.opts.Replica, ts, reqs, fails, lats)
	}
	b.Queue(`INSERT INTO counters (replica, requests, successes, rate_limits, retries, client_gone, input_tokens, output_tokens, last_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (replica) DO UPDATE SET requests = excluded.requests, successes = excluded.successes,
		rate_limits = excluded.rate_limits, retries = excluded.retries, client_gone = excluded.client_gone,
		input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, last_id = excluded.last_id`,
		s.opts.Replica, c.Requests, c.Successes, c.RateLimits, c.Retries, c.ClientGone, c.InputTokens, c.OutputTokens, c.LastID)
	payload, _ := json.Marshal(n) // a struct of plain fields always encodes
	b.Queue("SELECT pg_notify($1, $2)", channel, string(payload))
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// prune deletes requests beyond the retention limits and series seconds
// older than stats.SeriesRetention.
func (s *Store) prune(ctx context.Context) error {
	if s.opts.RetentionRows > 0 {
		if _, err := s.pool.Exec(ctx, `DELETE FROM requests WHERE time <
			(SELECT time FROM requests ORDER BY time DESC LIMIT 1 OFFSET $1)`, s.opts.RetentionRows-1); err != nil {
			return err
		}
	}
	if s.opts.RetentionDays > 0 {
		cutoff := time.Now().AddDate(0, 0, -s.opts.RetentionDays).UnixMilli()
		if _, err := s.pool.Exec(ctx, "DELETE FROM requests WHERE time < $1", cutoff); err != nil {
			return err
		}
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM series WHERE t < $1", time.Now().Unix()-stats.SeriesRetention); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE expires < now()")
	return err
}
