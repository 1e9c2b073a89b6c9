package stats

import (
	"fmt"
	"time"
)

// SeriesRetention is how many seconds of the per-second series the stores
// keep: an hour, more than the chart's 10 minutes.
const SeriesRetention = 3600

var _ Store = (*SQLiteStore)(nil)

// Restore implements Store.
func (s *SQLiteStore) Restore(recent int) (Restored, error) {
	c, events, err := s.restore(recent)
	if err != nil {
		return Restored{}, err
	}
	buckets, err := s.readSeries(time.Now().Unix() - seriesSeconds)
	if err != nil {
		return Restored{}, fmt.Errorf("database %q: read series: %w", s.path, err)
	}
	return Restored{Counters: c.public(), Recent: events, Series: buckets}, nil
}

// Add implements Store.
func (s *SQLiteStore) Add(e *Event, sec int64, c Counters) { s.add(e, sec, c.internal()) }

// Sync implements Store.
func (s *SQLiteStore) Sync(c Counters) error { return s.sync(c.internal()) }

// Health implements Store: not OK while writes fail.
func (s *SQLiteStore) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{OK: s.failedSince.IsZero(), Dropped: s.droppedTotal, Queued: len(s.pending), Recovered: s.recovery}
	if !h.OK {
		since := s.failedSince
		h.Since = &since
	}
	return h
}

// writeFailed notes a failed write; s.mu is held.
func (s *SQLiteStore) writeFailed(error) {
	if s.failedSince.IsZero() {
		s.failedSince = time.Now()
	}
}

// readSeries returns the stored seconds from Unix second since on.
func (s *SQLiteStore) readSeries(since int64) ([]Bucket, error) {
	rows, err := s.db.Query("SELECT t, requests, failures, latency_sum FROM series WHERE t >= ? ORDER BY t", since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Bucket
	for rows.Next() {
		var b Bucket
		if err := rows.Scan(&b.T, &b.Requests, &b.Failures, &b.LatencySum); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
