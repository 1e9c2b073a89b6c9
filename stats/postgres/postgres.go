// Package postgres is the stats.Store that several llm-proxy replicas share:
// PostgreSQL through pgx v5 (a pool for writes and reads, COPY for the
// request log, a dedicated connection for LISTEN). Each replica writes its
// own counters row and series rows; every replica reads the others' and
// hears about their new records through NOTIFY (REPLICAS.md).
//
// Proxying never waits on the database: records queue in memory (bounded),
// a failed write keeps its batch for the next try, and Health says since
// when the database is away.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/llm-proxy/llm-proxy/stats"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxQueue is how many records may wait for the database when
	// Options.MaxQueue is 0.
	DefaultMaxQueue = 200_000
	// DefaultHeartbeat is how often the replica row is refreshed and the
	// other replicas' totals are read when Options.Heartbeat is 0.
	DefaultHeartbeat = time.Second
)

// idShift places a replica's number above its own sequence in Event.ID:
// ID = num<<40 + n. IDs stay unique across replicas and below 2^53 (exact
// in the page's JavaScript) for replica numbers under 8192.
const idShift = 40

// Options configure Open.
type Options struct {
	// URL is DATABASE_URL (postgres://user:pass@host:5432/db?sslmode=…). Required.
	URL string
	// Replica is this replica's name (REPLICA_NAME). Required.
	Replica string
	// Version is the program version, shown in the replicas list.
	Version string
	// RetentionRows keeps the newest this many requests (all replicas
	// together); 0 means no row limit.
	RetentionRows int
	// RetentionDays deletes requests older than this; 0 means no age limit.
	RetentionDays int
	// FlushInterval is the longest a record waits before it is written;
	// 0 means stats.DefaultFlushInterval (500ms).
	FlushInterval time.Duration
	// MaxQueue bounds the records waiting in memory while the database is
	// slow or away; 0 means 200000. Beyond it the oldest are dropped and counted.
	MaxQueue int
	// Heartbeat is how often the replica row is refreshed and the other
	// replicas' totals and the replicas list are read; 0 means 1s.
	Heartbeat time.Duration
	// InFlight reports this replica's requests in progress for the replicas
	// list; nil reports 0.
	InFlight func() int64
	// Logger receives connection, write and retention notes; nil means slog.Default().
	Logger *slog.Logger
}

// Store is the PostgreSQL stats.SharedStore. Create it with Open.
type Store struct {
	opts    Options
	pool    *pgxpool.Pool
	log     *slog.Logger
	num     int64  // this replica's number (replicas.num)
	where   string // host:port/database, for logs (never the password)
	started time.Time

	mu          sync.Mutex
	pending     []*stats.Event
	spare       []*stats.Event
	buckets     map[int64]*stats.Bucket
	counters    stats.Counters
	dirty       bool
	dropped     uint64    // every record not stored
	logDropped  uint64    // dropped since the last log line
	failedSince time.Time // zero while the database answers
	replicas    []stats.Replica
	closed      bool

	peers    stats.Peers // set once by Attach
	handlers map[string][]func(payload []byte)
	resyncs  []func(ctx context.Context)

	kick       chan struct{}
	syncReq    chan chan error
	ctx        context.Context // for writes; cancelled by Close after the last flush
	cancel     context.CancelFunc
	stopCtx    context.Context // cancelled when Close begins (listener, heartbeat)
	stopCancel context.CancelFunc
	stop       chan struct{}
	wg         sync.WaitGroup // writer, heartbeat, listener

	closeOnce sync.Once
	closeErr  error
}

var _ stats.SharedStore = (*Store)(nil)

// FatalError is a startup error that retrying will not cure: a wrong
// password, an unknown role or a missing database.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// Open connects (retrying with backoff while the server is unreachable,
// until ctx ends), runs the schema migrations under an advisory lock,
// registers the replica and starts the writer and heartbeat. A wrong
// password, an unknown role or a missing database is a *FatalError at once.
func Open(ctx context.Context, opts Options) (*Store, error) {
	switch {
	case opts.URL == "":
		return nil, errors.New("postgres: URL is required")
	case opts.Replica == "":
		return nil, errors.New("postgres: Replica is required")
	case opts.RetentionRows < 0 || opts.RetentionDays < 0 || opts.FlushInterval < 0 || opts.MaxQueue < 0:
		return nil, errors.New("postgres: negative option")
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = stats.DefaultFlushInterval
	}
	if opts.MaxQueue == 0 {
		opts.MaxQueue = DefaultMaxQueue
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.InFlight == nil {
		opts.InFlight = func() int64 { return 0 }
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		// The parser's message may quote the URL, password included.
		return nil, &FatalError{errors.New("DATABASE_URL is not a valid PostgreSQL URL or DSN")}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "llm-proxy " + opts.Replica
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &FatalError{err}
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	var num int64
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		num, err = migrate(ctx, pool, opts.Replica, opts.Version)
		if err == nil {
			break
		}
		if fatal(err) {
			pool.Close()
			return nil, &FatalError{fmt.Errorf("database %s: %s", where, describe(err))}
		}
		log.Warn("database unreachable, retrying", "database", where, "retry_in", wait.String(), "err", describe(err))
		select {
		case <-ctx.Done():
			pool.Close()
			return nil, fmt.Errorf("database %s: %w (gave up: %v)", where, err, ctx.Err())
		case <-time.After(wait):
		}
	}
	s := &Store{
		opts:     opts,
		pool:     pool,
		log:      log,
		num:      num,
		where:    where,
		started:  time.Now(),
		buckets:  make(map[int64]*stats.Bucket),
		handlers: make(map[string][]func([]byte)),
		kick:     make(chan struct{}, 1),
		syncReq:  make(chan chan error),
		stop:     make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stopCtx, s.stopCancel = context.WithCancel(context.Background())
	if err := s.prune(ctx); err != nil {
		log.Warn("stats store: retention failed", "err", err)
	}
	s.heartbeat(ctx)
	// LISTEN before Open returns, so that nothing another replica sends
	// after this one is up is missed; on failure the goroutine retries.
	conn, err := s.connectListener(ctx)
	if err != nil {
		log.Warn("stats store: LISTEN connection failed, retrying", "err", describe(err))
	}
	s.wg.Add(3)
	go s.runWriter()
	go s.runHeartbeat()
	go s.runListener(conn)
	return s, nil
}

// fatal reports whether err is one that a retry will not cure.
func fatal(err error) bool {
	var fe *FatalError
	if errors.As(err, &fe) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", // invalid_password
			"28000", // invalid_authorization_specification (unknown role, pg_hba refusal)
			"3D000": // invalid_catalog_name: the database does not exist
			return true
		}
	}
	return false
}

// describe is a short, password-free description of a connection error.
func describe(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01":
			return "password authentication failed (check the password in DATABASE_URL)"
		case "28000":
			return "access refused: " + pe.Message + " (check the user in DATABASE_URL)"
		case "3D000":
			return pe.Message + " (create it, or fix the database name in DATABASE_URL)"
		}
		return pe.Message + " (SQLSTATE " + pe.Code + ")"
	}
	return err.Error()
}

// Where returns host:port/database of the server (no user or password), for logs.
func (s *Store) Where() string { return s.where }

// Replica returns this replica's name.
func (s *Store) Replica() string { return s.opts.Replica }

// Pool returns the connection pool (for the session and cooldown tables
// that share this database).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close writes what is pending (giving up after 5 s if the database is
// away), stops the goroutines, marks the replica gone and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		s.stopCancel()
		s.wg.Wait()
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = s.pool.Exec(ctx, "UPDATE replicas SET last_seen = now() - interval '1 hour', in_flight = 0 WHERE name = $1", s.opts.Replica)
		cancel()
		s.pool.Close()
	})
	return s.closeErr
}

// Health implements stats.Store.
func (s *Store) Health() stats.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := stats.Health{OK: s.failedSince.IsZero(), Dropped: s.dropped, Queued: len(s.pending)}
	if !h.OK {
		since := s.failedSince
		h.Since = &since
	}
	return h
}

// noteResult records whether the latest database call worked.
func (s *Store) noteResult(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if !s.failedSince.IsZero() {
			s.log.Info("database available again", "unavailable_for", time.Since(s.failedSince).Round(time.Millisecond).String())
		}
		s.failedSince = time.Time{}
		return
	}
	if s.failedSince.IsZero() {
		s.failedSince = time.Now()
		s.log.Error("database unavailable: records queue in memory", "err", describe(err))
	}
}
