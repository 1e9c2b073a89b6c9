package stats

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openTestStore(t testing.TB, opts StoreOptions) *SQLiteStore {
	t.Helper()
	s, err := OpenStore(opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func countRows(t testing.TB, s *SQLiteStore) (n, minID int64) {
	t.Helper()
	require.NoError(t, s.db.QueryRow("SELECT COALESCE(SUM(rows), 0), COALESCE(MIN(first_id), 0) FROM request_batches").Scan(&n, &minID))
	return n, minID
}

// storeEvents hands n events with IDs from+1… to s and waits until they are written.
func storeEvents(t testing.TB, s *SQLiteStore, from, n int, at time.Time) {
	t.Helper()
	var c counters
	for i := range n {
		e := okEvent()
		e.ID = int64(from + i + 1)
		e.Time = at
		c.requests, c.lastID = e.ID, e.ID
		s.add(e, e.Time.Unix(), c)
	}
	require.NoError(t, s.sync(c))
}

func TestOpenStore_errors(t *testing.T) {
	dir := t.TempDir()
	aFile := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(aFile, []byte("x"), 0o644))
	newer := filepath.Join(dir, "newer.db")
	db, err := sql.Open("sqlite", newer)
	require.NoError(t, err)
	_, err = db.Exec("PRAGMA user_version = 99")
	require.NoError(t, err)
	require.NoError(t, db.Close())

	tests := []struct {
		name     string
		opts     StoreOptions
		wantText string
	}{
		{name: "no path", opts: StoreOptions{}, wantText: `open database "": a file path is required`},
		{name: "memory", opts: StoreOptions{Path: ":memory:"}, wantText: `open database ":memory:"`},
		{name: "dsn syntax", opts: StoreOptions{Path: filepath.Join(dir, "a?mode=ro")}, wantText: `must not contain "?"`},
		// A damaged file is no error: see TestOpenStore_DamagedDatabaseMovedAside.
		{name: "parent is a file", opts: StoreOptions{Path: filepath.Join(aFile, "x.db")}, wantText: `open database "` + filepath.Join(aFile, "x.db") + `"`},
		{name: "schema from the future", opts: StoreOptions{Path: newer}, wantText: "schema version 99 is newer"},
		{name: "negative days", opts: StoreOptions{Path: filepath.Join(dir, "ok.db"), RetentionDays: -1}, wantText: "RetentionDays -1"},
		{name: "negative rows", opts: StoreOptions{Path: filepath.Join(dir, "ok.db"), RetentionRows: -1}, wantText: "RetentionRows -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenStore(tt.opts)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.wantText)
		})
	}
}

func TestOpenStore_migrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.db")
	for range 2 { // the second open finds the schema current
		s := openTestStore(t, StoreOptions{Path: path})
		var version int
		require.NoError(t, s.db.QueryRow("PRAGMA user_version").Scan(&version))
		assert.Equal(t, len(migrations), version)
		var mode string
		require.NoError(t, s.db.QueryRow("PRAGMA journal_mode").Scan(&mode))
		assert.Equal(t, "wal", mode)
		require.NoError(t, s.Close())
	}
}

func TestStore_Close(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.db")
	s := openTestStore(t, StoreOptions{Path: path, FlushInterval: time.Hour})
	e := okEvent()
	e.ID = 1
	s.add(e, e.Time.Unix(), counters{requests: 1, successes: 1, lastID: 1})
	require.NoError(t, s.Close(), "Close writes what is pending")
	require.NoError(t, s.Close(), "twice is fine")
	assert.Error(t, s.sync(counters{}))
	s.add(okEvent(), 0, counters{}) // ignored, no panic

	s = openTestStore(t, StoreOptions{Path: path})
	c, recent, err := s.restore(10)
	require.NoError(t, err)
	assert.Equal(t, counters{requests: 1, successes: 1, lastID: 1}, c)
	require.Len(t, recent, 1)
	assert.Equal(t, e.Attempts, recent[0].Attempts)
}

func TestStore_flush(t *testing.T) {
	tests := []struct {
		name  string
		opts  StoreOptions
		count int
	}{
		{name: "after the flush interval", opts: StoreOptions{FlushInterval: 10 * time.Millisecond}, count: 3},
		{name: "at a full batch", opts: StoreOptions{FlushInterval: time.Hour}, count: flushBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Path = filepath.Join(t.TempDir(), "stats.db")
			s := openTestStore(t, tt.opts)
			for i := range tt.count {
				e := okEvent()
				e.ID = int64(i + 1)
				s.add(e, e.Time.Unix(), counters{requests: e.ID, lastID: e.ID})
			}
			require.Eventually(t, func() bool {
				n, _ := countRows(t, s)
				return n == int64(tt.count)
			}, 10*time.Second, 5*time.Millisecond)
			c, err := s.readCounters()
			require.NoError(t, err)
			assert.Equal(t, int64(tt.count), c.requests, "counters written with the batch")
		})
	}
}

func TestStore_prune(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		opts      StoreOptions
		old, new  int // events 40 days old, then events from now
		wantRows  int64
		wantMinID int64
	}{
		{name: "row limit keeps the newest", opts: StoreOptions{RetentionRows: 10}, new: 25, wantRows: 10, wantMinID: 16},
		{name: "fewer rows than the limit", opts: StoreOptions{RetentionRows: 10}, new: 4, wantRows: 4, wantMinID: 1},
		{name: "no row limit", opts: StoreOptions{RetentionRows: 0}, new: 25, wantRows: 25, wantMinID: 1},
		{name: "age limit", opts: StoreOptions{RetentionDays: 30}, old: 5, new: 3, wantRows: 3, wantMinID: 6},
		{name: "zero limits keep everything", opts: StoreOptions{}, old: 5, new: 3, wantRows: 8, wantMinID: 1},
		{name: "both limits", opts: StoreOptions{RetentionRows: 2, RetentionDays: 30}, old: 5, new: 3, wantRows: 2, wantMinID: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stats.db")
			s := openTestStore(t, StoreOptions{Path: path})
			storeEvents(t, s, 0, tt.old, now.AddDate(0, 0, -40))
			storeEvents(t, s, tt.old, tt.new, now)
			require.NoError(t, s.Close())

			tt.opts.Path = path
			s = openTestStore(t, tt.opts) // retention runs at open
			n, minID := countRows(t, s)
			assert.Equal(t, tt.wantRows, n)
			assert.Equal(t, tt.wantMinID, minID)

			c, _, err := s.restore(1)
			require.NoError(t, err)
			assert.Equal(t, int64(tt.old+tt.new), c.lastID, "the last ID survives pruning")
		})
	}
}

func TestStore_restore_skipsBadRows(t *testing.T) {
	s := openTestStore(t, StoreOptions{Path: filepath.Join(t.TempDir(), "stats.db")})
	storeEvents(t, s, 0, 1, time.Now())
	storeEvents(t, s, 1, 2, time.Now()) // a batch of two: 2, 3
	_, err := s.db.Exec("UPDATE request_batches SET events = CAST('not json' || char(10) || substr(CAST(events AS TEXT), instr(CAST(events AS TEXT), char(10)) + 1) AS BLOB) WHERE last_id = 3")
	require.NoError(t, err)
	_, recent, err := s.restore(10)
	require.NoError(t, err)
	require.Len(t, recent, 2, "the batch's other request is read")
	assert.Equal(t, int64(3), recent[0].ID)
	assert.Equal(t, int64(1), recent[1].ID)
}

// BenchmarkStore_Write measures the writer: batches of flushBatch events, one
// transaction each, JSON encoding included.
func BenchmarkStore_Write(b *testing.B) {
	s := openTestStore(b, StoreOptions{Path: filepath.Join(b.TempDir(), "stats.db"), FlushInterval: time.Hour})
	events := make([]*Event, flushBatch)
	for i := range events {
		events[i] = retriedEvent()
	}
	b.ResetTimer()
	var c counters
	for i := 0; i < b.N; i++ {
		e := events[i%flushBatch]
		e.ID = int64(i + 1) // safe: the previous write of e has finished (sync below)
		c.requests, c.lastID = e.ID, e.ID
		s.add(e, e.Time.Unix(), c)
		if (i+1)%flushBatch == 0 || i == b.N-1 {
			if err := s.sync(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if n, _ := countRows(b, s); n != int64(b.N) {
		b.Fatalf("stored %d rows, want %d", n, b.N)
	}
}

// The writer encodes every batch into one reused buffer: each line must
// hold its own event, also when a later batch's encoding is shorter.
func TestStore_write_eachLineItsOwnEvent(t *testing.T) {
	s := openTestStore(t, StoreOptions{Path: filepath.Join(t.TempDir(), "stats.db"), FlushInterval: time.Hour})
	var c counters
	var want []*Event
	for batch, n := range []int{70, 9, 1} {
		for i := range n {
			e := okEvent()
			e.ID = int64(len(want) + 1)
			e.Model = strings.Repeat("m", 1+(n-i)%23) // encodings of many lengths, often shorter than the last
			e.Error = strings.Repeat("<&>", i%3)
			e.Time = e.Time.Add(time.Duration(batch*100+i) * time.Millisecond)
			c.requests, c.lastID = e.ID, e.ID
			s.add(e, e.Time.Unix(), c)
			want = append(want, e)
		}
		require.NoError(t, s.sync(c))
	}
	rows, err := s.db.Query("SELECT last_id, first_id, rows, time_min, time_max, events FROM request_batches ORDER BY last_id")
	require.NoError(t, err)
	defer rows.Close()
	i := 0
	for rows.Next() {
		var last, first, n, tmin, tmax int64
		var data []byte
		require.NoError(t, rows.Scan(&last, &first, &n, &tmin, &tmax, &data))
		assert.Equal(t, want[i].ID, first)
		assert.Equal(t, want[i].Time.UnixMilli(), tmin)
		for line := range bytes.Lines(data) {
			wantJSON, err := json.Marshal(want[i])
			require.NoError(t, err)
			assert.Equal(t, string(wantJSON)+"\n", string(line), "request %d", want[i].ID)
			i++
		}
		assert.Equal(t, want[i-1].ID, last)
		assert.Equal(t, want[i-1].Time.UnixMilli(), tmax)
		assert.Equal(t, last-first+1, n)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, len(want), i)
}

// A request is written in the batch of its turn: the batch after one
// that holds a higher id. The newest n are still the n highest ids.
func TestStore_restore_batchesOutOfIDOrder(t *testing.T) {
	s := openTestStore(t, StoreOptions{Path: filepath.Join(t.TempDir(), "stats.db"), FlushInterval: time.Hour})
	var c counters
	for _, batch := range [][]int64{{1, 2, 5}, {3, 4}, {6}} {
		for _, id := range batch {
			e := okEvent()
			e.ID = id
			c.requests, c.lastID = c.requests+1, max(c.lastID, id)
			s.add(e, e.Time.Unix(), c)
		}
		require.NoError(t, s.sync(c))
	}
	for n, want := range [][]int64{nil, {6}, {6, 5}, {6, 5, 4}, {6, 5, 4, 3}, {6, 5, 4, 3, 2}, {6, 5, 4, 3, 2, 1}, {6, 5, 4, 3, 2, 1}} {
		_, recent, err := s.restore(n)
		require.NoError(t, err)
		var got []int64
		for _, e := range recent {
			got = append(got, e.ID)
		}
		assert.Equal(t, want, got, "newest %d", n)
	}
}

// A database written before the batch table (schema 2, a row per request)
// keeps its requests: migration 3 moves each row into a batch of its own.
func TestOpenStore_migratesRowsToBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, m := range migrations[:2] {
		_, err := db.Exec(m)
		require.NoError(t, err)
	}
	_, err = db.Exec("PRAGMA user_version = 2")
	require.NoError(t, err)
	var want []*Event
	for i := range 3 {
		e := okEvent()
		e.ID = int64(i + 1)
		data, err := json.Marshal(e)
		require.NoError(t, err)
		_, err = db.Exec("INSERT INTO requests (id, time, event) VALUES (?, ?, ?)", e.ID, e.Time.UnixMilli(), string(data))
		require.NoError(t, err)
		want = append([]*Event{e}, want...)
	}
	require.NoError(t, db.Close())

	s := openTestStore(t, StoreOptions{Path: path})
	n, minID := countRows(t, s)
	assert.Equal(t, int64(3), n)
	assert.Equal(t, int64(1), minID)
	c, recent, err := s.restore(10)
	require.NoError(t, err)
	assert.Equal(t, int64(3), c.lastID)
	require.Len(t, recent, 3)
	for i, e := range recent {
		assert.Equal(t, want[i].ID, e.ID)
		assert.Equal(t, want[i].Model, e.Model)
	}
}
