package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/llm-proxy/llm-proxy/stats"
)

// peerEventLimit is the most events of one peer batch fetched for the live
// feed (the dashboard shows the latest few dozen).
const peerEventLimit = 200

// Attach implements stats.SharedStore: from now on the other replicas'
// totals, series and new events go to p.
func (s *Store) Attach(p stats.Peers) {
	s.mu.Lock()
	s.peers = p
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.resync(ctx)
}

func (s *Store) getPeers() stats.Peers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers
}

// OnNotify registers f for the notifications of kind that other replicas
// send with Notify. f runs on the listener goroutine: it must be quick.
func (s *Store) OnNotify(kind string, f func(data []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[kind] = append(s.handlers[kind], f)
}

// Notify tells every other replica (kind, data) through NOTIFY, waiting at
// most 2 s. data must be JSON and small (NOTIFY payloads stop at 8000 bytes).
func (s *Store) Notify(ctx context.Context, kind string, data []byte) error {
	payload, err := json.Marshal(notice{Kind: kind, Replica: s.opts.Replica, Data: data})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload))
	return err
}

// OnResync registers f to run after each (re)connection of the LISTEN
// connection, since notifications sent meanwhile are lost.
func (s *Store) OnResync(f func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resyncs = append(s.resyncs, f)
}

// connectListener opens the LISTEN connection.
func (s *Store) connectListener(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+channel); err != nil {
		conn.Close(cctx)
		return nil, err
	}
	return conn, nil
}

// runListener holds the dedicated LISTEN connection (first opens by Open,
// possibly nil), reconnecting with backoff; after each reconnection it
// reads the peers' state afresh.
func (s *Store) runListener(conn *pgx.Conn) {
	defer s.wg.Done()
	wait := 250 * time.Millisecond
	for {
		var err error
		if conn == nil {
			conn, err = s.connectListener(s.stopCtx)
			if err == nil {
				rctx, cancel := context.WithTimeout(s.stopCtx, 10*time.Second)
				s.resync(rctx)
				cancel()
			}
		}
		if conn != nil {
			wait = 250 * time.Millisecond
			err = s.listen(conn)
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
			conn = nil
		}
		if s.stopCtx.Err() != nil {
			return
		}
		s.log.Warn("stats store: LISTEN connection lost, reconnecting", "retry_in", wait.String(), "err", describe(err))
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// listen handles notifications on conn until it fails or the store stops.
func (s *Store) listen(conn *pgx.Conn) error {
	ctx := s.stopCtx
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var msg notice
		if json.Unmarshal([]byte(n.Payload), &msg) != nil || msg.Replica == s.opts.Replica {
			continue
		}
		switch msg.Kind {
		case "events":
			s.peerBatch(ctx, msg)
			continue
		case "mark":
			if p := s.getPeers(); p != nil {
				p.PeerEvents(peerBatchOf(msg, nil))
			}
			continue
		}
		s.mu.Lock()
		hs := s.handlers[msg.Kind]
		s.mu.Unlock()
		for _, h := range hs {
			h(msg.Data)
		}
	}
}

// peerBatch fetches what another replica's flush wrote and hands it to the peers sink.
func (s *Store) peerBatch(ctx context.Context, msg notice) {
	p := s.getPeers()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var events []*stats.Event
	if msg.To > 0 {
		var err error
		events, err = s.readEvents(ctx, "SELECT event FROM requests WHERE id BETWEEN $1 AND $2 ORDER BY id DESC LIMIT $3",
			msg.From, msg.To, peerEventLimit)
		if err != nil {
			// Its progress is not passed on either: the feed must not
			// show later events as if these had been seen.
			s.log.Warn("stats store: reading another replica's records", "err", describe(err))
			msg.Complete = 0
		}
		slices.Reverse(events)
	}
	p.PeerEvents(peerBatchOf(msg, events))
	if msg.T1 > 0 {
		if bs, err := s.peerSeries(ctx, msg.T0, msg.T1); err == nil {
			p.PeerSeries(bs)
		}
	}
	if c, err := s.peerTotals(ctx); err == nil {
		p.PeerTotals(c)
	}
}

// peerBatchOf is the live feed's view of another replica's notice.
func peerBatchOf(msg notice, events []*stats.Event) stats.PeerBatch {
	b := stats.PeerBatch{Replica: msg.Replica, Events: events, Every: time.Duration(msg.Every) * time.Millisecond}
	if msg.Complete > 0 {
		b.Complete = time.UnixMilli(msg.Complete)
	}
	return b
}

// resync reads the other replicas' totals and last 10 minutes of series
// and runs the OnResync functions.
func (s *Store) resync(ctx context.Context) {
	s.mu.Lock()
	fs := slices.Clone(s.resyncs)
	s.mu.Unlock()
	for _, f := range fs {
		f(ctx)
	}
	p := s.getPeers()
	if p == nil {
		return
	}
	now := time.Now().Unix()
	if bs, err := s.peerSeries(ctx, now-600, now+1); err == nil {
		p.PeerSeries(bs)
	}
	if c, err := s.peerTotals(ctx); err == nil {
		p.PeerTotals(c)
	}
}

// peerSeries sums the other replicas' series seconds from t0 to t1.
func (s *Store) peerSeries(ctx context.Context, t0, t1 int64) ([]stats.Bucket, error) {
	rows, err := s.pool.Query(ctx, `SELECT t, SUM(requests)::bigint, SUM(failures)::bigint, SUM(latency_sum)
		FROM series WHERE t BETWEEN $1 AND $2 AND replica <> $3 GROUP BY t`, t0, t1, s.opts.Replica)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[stats.Bucket])
}

const peerTotalsSQL = `SELECT COALESCE(SUM(requests), 0)::bigint, COALESCE(SUM(successes), 0)::bigint,
	COALESCE(SUM(rate_limits), 0)::bigint, COALESCE(SUM(retries), 0)::bigint, COALESCE(SUM(client_gone), 0)::bigint,
	COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint
	FROM counters WHERE replica <> $1`

// peerTotals sums the other replicas' counters.
func (s *Store) peerTotals(ctx context.Context) (stats.Counters, error) {
	var c stats.Counters
	err := s.pool.QueryRow(ctx, peerTotalsSQL, s.opts.Replica).
		Scan(&c.Requests, &c.Successes, &c.RateLimits, &c.Retries, &c.ClientGone, &c.InputTokens, &c.OutputTokens)
	return c, err
}
