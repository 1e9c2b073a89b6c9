package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/llm-proxy/llm-proxy/stats"
)

// Replicas implements stats.SharedStore: the replicas seen within the last
// day, as of the latest heartbeat, by name.
func (s *Store) Replicas() []stats.Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slicesClone(s.replicas)
}

func slicesClone(r []stats.Replica) []stats.Replica {
	if r == nil {
		return []stats.Replica{}
	}
	return append([]stats.Replica(nil), r...)
}

// runHeartbeat refreshes this replica's row and reads the replicas list
// and the other replicas' totals every Heartbeat.
func (s *Store) runHeartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.heartbeat(s.stopCtx)
		}
	}
}

// heartbeat is one round trip: update our row, list the replicas, sum the peers' counters.
func (s *Store) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.opts.Heartbeat, 2*time.Second))
	defer cancel()
	// A replica is alive when seen within three heartbeats (at least 5 s).
	alive := max(3*s.opts.Heartbeat, 5*time.Second)
	var b pgx.Batch
	b.Queue("UPDATE replicas SET last_seen = now(), in_flight = $2 WHERE name = $1", s.opts.Replica, s.opts.InFlight())
	var list []stats.Replica
	b.Queue(`SELECT name, version, started_at, last_seen, in_flight, last_seen > now() - $1::interval
		FROM replicas WHERE last_seen > now() - interval '1 day' ORDER BY name`, alive).
		Query(func(rows pgx.Rows) error {
			var err error
			list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (stats.Replica, error) {
				var r stats.Replica
				err := row.Scan(&r.Name, &r.Version, &r.StartTime, &r.LastSeen, &r.InFlight, &r.Alive)
				return r, err
			})
			return err
		})
	var c stats.Counters
	b.Queue(peerTotalsSQL, s.opts.Replica).QueryRow(func(row pgx.Row) error {
		return row.Scan(&c.Requests, &c.Successes, &c.RateLimits, &c.Retries, &c.ClientGone, &c.InputTokens, &c.OutputTokens)
	})
	err := s.pool.SendBatch(ctx, &b).Close()
	if s.stopCtx.Err() != nil {
		return
	}
	s.noteResult(err)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.replicas = list
	p := s.peers
	s.mu.Unlock()
	if p != nil {
		p.PeerTotals(c)
	}
}
