package stats

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Store defaults.
const (
	// DefaultRetentionRows is the row limit the app configures by default.
	// StoreOptions.RetentionRows 0 means no row limit, so it is passed explicitly.
	DefaultRetentionRows = 100_000
	// DefaultRetentionDays is the age limit the app configures by default.
	// StoreOptions.RetentionDays 0 means no age limit, so it is passed explicitly.
	DefaultRetentionDays = 30
	// DefaultFlushInterval is how often the writer commits when
	// StoreOptions.FlushInterval is 0.
	DefaultFlushInterval = 500 * time.Millisecond
)

const (
	// flushBatch is the number of pending events that triggers a write
	// before the flush interval is up.
	flushBatch = 1000
	// maxPending bounds the events waiting for the writer (a stalled disk
	// must not eat the memory); beyond it new events are not stored.
	maxPending = 100_000
	// pruneInterval is how often retention runs after the one at open.
	pruneInterval = time.Minute
)

// migrations are the schema steps, in order; PRAGMA user_version holds how
// many have run. Append new steps, never edit old ones.
var migrations = []string{
	// 1: the request log (the Event as JSON, attempt trail included) and the counters.
	`CREATE TABLE requests (
		id    INTEGER PRIMARY KEY,
		time  INTEGER NOT NULL, -- Event.Time, Unix milliseconds
		event TEXT    NOT NULL  -- the Event as JSON
	);
	CREATE INDEX requests_time ON requests(time);
	CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// 2: the chart's per-second series, so that it survives a restart.
	`CREATE TABLE series (
		t           INTEGER PRIMARY KEY, -- Unix second
		requests    INTEGER NOT NULL,
		failures    INTEGER NOT NULL,
		latency_sum REAL    NOT NULL     -- milliseconds
	) WITHOUT ROWID;`,
	// 3: the request log as one row per written batch: a row per request
	// cost a B-tree insert into the table and one into the time index for
	// every request, the largest part of what storing a request costs.
	`CREATE TABLE request_batches (
		last_id  INTEGER PRIMARY KEY, -- the highest request id in the batch
		first_id INTEGER NOT NULL,    -- the lowest
		rows     INTEGER NOT NULL,    -- how many requests it holds
		time_min INTEGER NOT NULL,    -- the oldest Event.Time, Unix milliseconds
		time_max INTEGER NOT NULL,    -- the newest
		events   BLOB    NOT NULL     -- the Events as JSON, each followed by a newline
	);
	CREATE INDEX request_batches_time ON request_batches(time_min);
	INSERT INTO request_batches (last_id, first_id, rows, time_min, time_max, events)
		SELECT id, id, 1, time, time, CAST(event || char(10) AS BLOB) FROM requests;
	DROP TABLE requests;`,
}

// StoreOptions configure OpenStore.
type StoreOptions struct {
	// Path is the SQLite database file; its parent directory is created.
	// Required: "" and ":memory:" are not supported (use no Store instead).
	Path string
	// RetentionRows is how many of the newest requests are kept; 0 means no
	// row limit (the app's default is DefaultRetentionRows, 100000).
	RetentionRows int
	// RetentionDays deletes requests older than this many days; 0 means no
	// age limit (the app's default is DefaultRetentionDays, 30).
	RetentionDays int
	// FlushInterval is the longest an event waits before it is written;
	// 0 means DefaultFlushInterval (500ms). A batch of 1000 is written at once.
	FlushInterval time.Duration
	// Logger receives write and retention errors; nil means slog.Default().
	Logger *slog.Logger
}

// SQLiteStore is the Store of one process: a SQLite file with the request
// log, the counters and the per-second series. One goroutine writes: events
// handed over by the Recorder are committed in batches, one transaction each,
// together with the counters. A Store serves one Recorder at a time.
type SQLiteStore struct {
	path          string
	db            *sql.DB
	log           *slog.Logger
	retentionRows int // 0: no limit
	retentionDays int // 0: no age limit
	flushInterval time.Duration

	mu           sync.Mutex
	pending      []*Event          // waiting for the writer
	spare        []*Event          // the writer's previous batch, reused
	counters     counters          // latest counters to persist
	buckets      map[int64]*Bucket // series seconds since the last write
	dirty        bool              // something to write
	dropped      uint64            // events not stored (backlog full or write failed), not yet logged
	droppedTotal uint64            // every event not stored, for Health
	closed       bool
	failedSince  time.Time // the first of the current run of failed writes; zero when the last write worked

	kick    chan struct{}   // a full batch is waiting (capacity 1)
	syncReq chan chan error // write everything now and answer
	stop    chan struct{}
	done    chan struct{} // closed when the writer has exited

	recovery *DatabaseRecovery // set when a damaged file was moved aside at open
	enc      []byte            // the writer's encoding buffer, reused for every statement

	closeOnce sync.Once
	closeErr  error
	writeErr  error // the writer's final flush error, read after done
}

// counters are the persisted running totals; Totals derive from them.
type counters struct {
	requests, successes, rateLimits, retries, clientGone int64
	inputTokens, outputTokens                            int64
	lastID                                               int64 // highest Event.ID handed out
}

// OpenStore opens (creating if needed) the database at opts.Path, checks its
// integrity, runs pending migrations, applies retention and starts the writer.
// Every error names the path, e.g. `open database "/data/x.db": file is not a
// database`.
//
// A damaged file ("file is not a database", a failed integrity check) does
// not stop the proxy: it is moved aside to <path>.corrupt-<time>, a fresh
// database is started, an error is logged and Health().Recovered says so.
func OpenStore(opts StoreOptions) (*SQLiteStore, error) {
	s, err := openStore(opts)
	if err != nil && isDamaged(err) {
		now := time.Now()
		aside, mvErr := moveAside(opts.Path, now)
		if mvErr != nil {
			return nil, fmt.Errorf("open database %q: %w (and %w)", opts.Path, err, mvErr)
		}
		reason := err.Error()
		if s, err = openStore(opts); err == nil {
			s.recovery = &DatabaseRecovery{At: now, MovedTo: aside, Reason: reason}
			s.log.Error("STATS DATABASE WAS DAMAGED: moved aside and started a fresh one; counters and the request log start over",
				"path", opts.Path, "moved_to", aside, "reason", reason)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", opts.Path, err)
	}
	return s, nil
}

func openStore(opts StoreOptions) (*SQLiteStore, error) {
	switch {
	case opts.Path == "" || opts.Path == ":memory:":
		return nil, errors.New("a file path is required (run without a store to keep stats in memory only)")
	case strings.ContainsRune(opts.Path, '?') || strings.HasPrefix(opts.Path, "file:"):
		// The driver would read these as DSN syntax, not as part of the name.
		return nil, errors.New(`path must not contain "?" or start with "file:"`)
	case opts.RetentionRows < 0:
		return nil, fmt.Errorf("RetentionRows %d is negative", opts.RetentionRows)
	case opts.RetentionDays < 0:
		return nil, fmt.Errorf("RetentionDays %d is negative", opts.RetentionDays)
	case opts.FlushInterval < 0:
		return nil, fmt.Errorf("FlushInterval %v is negative", opts.FlushInterval)
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
		return nil, err
	}
	dsn := opts.Path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: there is one writer, and it avoids SQLITE_BUSY between
	// our own connections.
	db.SetMaxOpenConns(1)
	if err := checkAndMigrate(db); err != nil {
		db.Close()
		return nil, err
	}

	s := &SQLiteStore{
		path:          opts.Path,
		db:            db,
		log:           opts.Logger,
		retentionRows: opts.RetentionRows,
		retentionDays: opts.RetentionDays,
		flushInterval: opts.FlushInterval,
		buckets:       make(map[int64]*Bucket),
		kick:          make(chan struct{}, 1),
		syncReq:       make(chan chan error),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.flushInterval == 0 {
		s.flushInterval = DefaultFlushInterval
	}
	if err := s.prune(); err != nil {
		db.Close()
		return nil, err
	}
	go s.run()
	return s, nil
}

// checkAndMigrate verifies the file is a sound SQLite database and brings its
// schema up to date, one transaction per migration.
func checkAndMigrate(db *sql.DB) error {
	var check string
	if err := db.QueryRow("PRAGMA quick_check(1)").Scan(&check); err != nil {
		return err
	}
	if check != "ok" {
		return fmt.Errorf("%w: %s", errIntegrity, check)
	}
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program knows (%d)", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		// PRAGMA takes no bound parameters; v+1 is an int.
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// Close writes what is pending, stops the writer and closes the database.
// It is safe to call more than once.
func (s *SQLiteStore) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		<-s.done
		if err := s.db.Close(); err != nil {
			s.writeErr = errors.Join(s.writeErr, err)
		}
		if s.writeErr != nil {
			s.closeErr = fmt.Errorf("close database %q: %w", s.path, s.writeErr)
		}
	})
	return s.closeErr
}

// add queues e, which finished in Unix second sec, for writing, with the
// counters as they stand after it. It never blocks on the disk. e must not
// change afterwards.
func (s *SQLiteStore) add(e *Event, sec int64, c counters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.counters = c
	s.dirty = true
	b := s.buckets[sec]
	if b == nil {
		b = &Bucket{T: sec}
		s.buckets[sec] = b
	}
	b.Add(e)
	if len(s.pending) >= maxPending {
		s.dropped++
		s.droppedTotal++
		return
	}
	s.pending = append(s.pending, e)
	if len(s.pending) == flushBatch {
		select {
		case s.kick <- struct{}{}:
		default: // a kick is already waiting
		}
	}
}

// sync records c as the latest counters and writes everything pending before
// it returns.
func (s *SQLiteStore) sync(c counters) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("database %q: store is closed", s.path)
	}
	s.counters = c
	s.dirty = true
	s.mu.Unlock()

	answer := make(chan error, 1)
	select {
	case s.syncReq <- answer:
		return <-answer
	case <-s.done:
		return fmt.Errorf("database %q: store is closed", s.path)
	}
}

// run is the writer goroutine.
func (s *SQLiteStore) run() {
	defer close(s.done)
	flush := time.NewTicker(s.flushInterval)
	defer flush.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-flush.C:
			s.logErr("write", s.flush())
		case <-s.kick:
			s.logErr("write", s.flush())
		case <-prune.C:
			s.logErr("retention", s.prune())
		case answer := <-s.syncReq:
			answer <- s.flush()
		case <-s.stop:
			s.writeErr = s.flush()
			return
		}
	}
}

func (s *SQLiteStore) logErr(what string, err error) {
	if err != nil {
		s.log.Error("stats store: "+what+" failed", "path", s.path, "err", err)
	}
}

// flush writes the pending events and the counters in one transaction.
func (s *SQLiteStore) flush() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	batch, c, dropped, buckets := s.pending, s.counters, s.dropped, s.buckets
	s.pending, s.spare = s.spare[:0], nil
	s.dirty, s.dropped = false, 0
	s.buckets = make(map[int64]*Bucket)
	s.mu.Unlock()

	if dropped > 0 {
		s.log.Warn("stats store: backlog full, requests not stored", "path", s.path, "count", dropped)
	}
	err := s.write(batch, c, buckets)
	if err != nil {
		s.mu.Lock()
		s.dirty = true // retry the counters next time; the batch is lost
		s.droppedTotal += uint64(len(batch))
		s.writeFailed(err)
		s.mu.Unlock()
		err = fmt.Errorf("%d requests not stored: %w", len(batch), err)
	}
	clear(batch) // let the events go
	s.mu.Lock()
	if err == nil {
		s.failedSince = time.Time{}
	}
	s.spare = batch[:0]
	s.mu.Unlock()
	return err
}

func (s *SQLiteStore) write(batch []*Event, c counters, buckets map[int64]*Bucket) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit

	if len(batch) > 0 {
		if err := s.insertRequests(tx, batch); err != nil {
			return err
		}
	}

	if len(buckets) > 0 {
		ser, err := tx.Prepare(`INSERT INTO series (t, requests, failures, latency_sum) VALUES (?, ?, ?, ?)
			ON CONFLICT (t) DO UPDATE SET requests = requests + excluded.requests,
			failures = failures + excluded.failures, latency_sum = latency_sum + excluded.latency_sum`)
		if err != nil {
			return err
		}
		defer ser.Close()
		for _, b := range buckets {
			if _, err := ser.Exec(b.T, b.Requests, b.Failures, b.LatencySum); err != nil {
				return err
			}
		}
	}

	up, err := tx.Prepare("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
	if err != nil {
		return err
	}
	defer up.Close()
	for _, kv := range c.named() {
		if _, err := up.Exec(kv.name, kv.value); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertRequests writes batch as one row of request_batches: the events'
// JSON back to back in s.enc, each followed by a newline. The driver
// copies the bound blob before Exec returns, so s.enc is reused by the next
// batch.
func (s *SQLiteStore) insertRequests(tx *sql.Tx, batch []*Event) error {
	var row batchRow
	row.events = s.enc[:0]
	for _, e := range batch {
		var err error
		if row.events, err = e.appendJSON(row.events); err != nil {
			return fmt.Errorf("request %d: %w", e.ID, err)
		}
		row.events = append(row.events, '\n')
		row.add(e)
	}
	s.enc = row.events
	_, err := tx.Exec(`INSERT INTO request_batches (last_id, first_id, rows, time_min, time_max, events)
		VALUES (?, ?, ?, ?, ?, ?)`, row.last, row.first, row.rows, row.tmin, row.tmax, row.events)
	if err != nil {
		return fmt.Errorf("requests %d to %d: %w", row.first, row.last, err)
	}
	return nil
}

// batchRow is a request_batches row being built: the events' lines, and
// their count and id and time ranges, which add keeps.
type batchRow struct {
	first, last int64 // the lowest and highest request id
	tmin, tmax  int64 // the oldest and newest Event.Time, Unix milliseconds
	rows        int
	events      []byte
}

// add counts e, whose line the caller appended to events, in the ranges.
func (b *batchRow) add(e *Event) {
	t := e.Time.UnixMilli()
	if b.rows == 0 {
		b.first, b.last, b.tmin, b.tmax = e.ID, e.ID, t, t
	} else {
		b.first, b.last = min(b.first, e.ID), max(b.last, e.ID)
		b.tmin, b.tmax = min(b.tmin, t), max(b.tmax, t)
	}
	b.rows++
}

type namedValue struct {
	name  string
	value int64
}

// named lists the counters under their names in the counters table.
func (c counters) named() []namedValue {
	return []namedValue{
		{"requests", c.requests},
		{"successes", c.successes},
		{"rate_limits", c.rateLimits},
		{"retries", c.retries},
		{"client_gone", c.clientGone},
		{"input_tokens", c.inputTokens},
		{"output_tokens", c.outputTokens},
		{"last_id", c.lastID},
	}
}

// prune deletes requests beyond the retention limits.
func (s *SQLiteStore) prune() error {
	ctx := context.Background()
	if s.retentionRows > 0 {
		if err := s.pruneRows(ctx); err != nil {
			return err
		}
	}
	if s.retentionDays > 0 {
		if err := s.pruneDays(ctx, time.Now().AddDate(0, 0, -s.retentionDays).UnixMilli()); err != nil {
			return err
		}
	}
	_, err := s.db.ExecContext(ctx, "DELETE FROM series WHERE t < ?", time.Now().Unix()-SeriesRetention)
	return err
}

// pruneRows keeps the newest retentionRows requests: it walks the batches
// from the newest until they hold that many, deletes the older batches and
// trims the batch that crosses the limit to its newest requests.
func (s *SQLiteStore) pruneRows(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT last_id, rows FROM request_batches ORDER BY last_id DESC")
	if err != nil {
		return err
	}
	limit := int64(s.retentionRows)
	var held, cross, n int64
	found := false
	for rows.Next() {
		if err := rows.Scan(&cross, &n); err != nil {
			rows.Close()
			return err
		}
		if held+n >= limit {
			found = true
			break
		}
		held += n
	}
	rows.Close() // before the next statement: the store has one connection
	if err := rows.Err(); err != nil || !found {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM request_batches WHERE last_id < ?", cross); err != nil {
		return err
	}
	keep := limit - held
	if keep == n {
		return nil
	}
	return s.trimBatch(ctx, cross, func(lines []storedLine) []storedLine {
		slices.SortFunc(lines, func(a, b storedLine) int { return cmp.Compare(b.e.ID, a.e.ID) })
		return lines[:min(int(keep), len(lines))]
	})
}

// pruneDays deletes the requests older than cutoff (Unix milliseconds):
// the batches that hold only such requests, and those requests in the
// batches that also hold newer ones.
func (s *SQLiteStore) pruneDays(ctx context.Context, cutoff int64) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM request_batches WHERE time_min < ? AND time_max < ?", cutoff, cutoff); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT last_id FROM request_batches WHERE time_min < ?", cutoff)
	if err != nil {
		return err
	}
	var mixed []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		mixed = append(mixed, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range mixed {
		err := s.trimBatch(ctx, id, func(lines []storedLine) []storedLine {
			return slices.DeleteFunc(lines, func(l storedLine) bool { return l.e.Time.UnixMilli() < cutoff })
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// storedLine is one request of a stored batch: its line and its Event.
type storedLine struct {
	line []byte
	e    *Event
}

// trimBatch rewrites the batch whose last_id is id with the requests pick
// keeps (unreadable lines are dropped), or deletes it when none is left.
func (s *SQLiteStore) trimBatch(ctx context.Context, id int64, pick func([]storedLine) []storedLine) error {
	var data []byte
	if err := s.db.QueryRowContext(ctx, "SELECT events FROM request_batches WHERE last_id = ?", id).Scan(&data); err != nil {
		return err
	}
	var lines []storedLine
	for line := range bytes.Lines(data) {
		e := new(Event)
		if json.Unmarshal(line, e) == nil {
			lines = append(lines, storedLine{line, e})
		}
	}
	lines = pick(lines)
	if len(lines) == 0 {
		_, err := s.db.ExecContext(ctx, "DELETE FROM request_batches WHERE last_id = ?", id)
		return err
	}
	slices.SortFunc(lines, func(a, b storedLine) int { return cmp.Compare(a.e.ID, b.e.ID) })
	var row batchRow
	for _, l := range lines {
		row.events = append(row.events, l.line...)
		row.add(l.e)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE request_batches SET last_id = ?, first_id = ?, rows = ?,
		time_min = ?, time_max = ?, events = ? WHERE last_id = ?`, row.last, row.first, row.rows, row.tmin, row.tmax, row.events, id)
	return err
}

// restore reads the persisted counters and the newest n events, newest first.
func (s *SQLiteStore) restore(n int) (counters, []*Event, error) {
	c, err := s.readCounters()
	if err != nil {
		return c, nil, fmt.Errorf("database %q: read counters: %w", s.path, err)
	}
	var maxID int64
	if err := s.db.QueryRow("SELECT COALESCE(MAX(last_id), 0) FROM request_batches").Scan(&maxID); err != nil {
		return c, nil, fmt.Errorf("database %q: read requests: %w", s.path, err)
	}
	c.lastID = max(c.lastID, maxID)

	recent, err := s.readRecent(n)
	if err != nil {
		return c, nil, fmt.Errorf("database %q: read requests: %w", s.path, err)
	}
	return c, recent, nil
}

func (s *SQLiteStore) readCounters() (counters, error) {
	var c counters
	rows, err := s.db.Query("SELECT name, value FROM counters")
	if err != nil {
		return c, err
	}
	defer rows.Close()
	byName := map[string]*int64{
		"requests":      &c.requests,
		"successes":     &c.successes,
		"rate_limits":   &c.rateLimits,
		"retries":       &c.retries,
		"client_gone":   &c.clientGone,
		"input_tokens":  &c.inputTokens,
		"output_tokens": &c.outputTokens,
		"last_id":       &c.lastID,
	}
	for rows.Next() {
		var name string
		var value int64
		if err := rows.Scan(&name, &value); err != nil {
			return c, err
		}
		if p, ok := byName[name]; ok {
			*p = value
		}
	}
	return c, rows.Err()
}

// readRecent returns the newest n requests, newest first. A request is
// written in the batch of its turn, which can follow the batch of a
// request with a higher id: batches are read until the next one's highest
// id is below the n-th newest found.
func (s *SQLiteStore) readRecent(n int) ([]*Event, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.db.Query("SELECT last_id, events FROM request_batches ORDER BY last_id DESC")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		var last int64
		var data []byte
		if err := rows.Scan(&last, &data); err != nil {
			return nil, err
		}
		if len(out) == n && last < out[n-1].ID {
			break
		}
		for line := range bytes.Lines(data) {
			e := new(Event)
			if err := json.Unmarshal(line, e); err != nil {
				// One bad line must not stop the proxy from starting.
				s.log.Warn("stats store: skipping unreadable request", "path", s.path, "batch", last, "err", err)
				continue
			}
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b *Event) int { return cmp.Compare(b.ID, a.ID) })
		out = out[:min(n, len(out))]
	}
	return out, rows.Err()
}
