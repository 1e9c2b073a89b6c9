package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"sync"
	"time"
)

// SessionShare keeps sessions in a store that several replicas share
// (REPLICAS.md), by token digest: a login on one replica is valid on all,
// and a logout on one ends the session everywhere. Each call may wait on
// the database (bounded by the implementation); only dashboard routes call
// it, never the proxy path.
type SessionShare interface {
	// Save stores a new session.
	Save(id [sha256.Size]byte, expires time.Time) error
	// Lookup finds a session another replica created; ok is false when
	// unknown or expired.
	Lookup(id [sha256.Size]byte) (expires time.Time, ok bool, err error)
	// Delete ends a session on every replica.
	Delete(id [sha256.Size]byte) error
	// OnEnd registers f for sessions ended on other replicas.
	OnEnd(f func(id [sha256.Size]byte))
}

// maxSessions bounds the session map; past it, the session closest to
// expiry makes room for the new one.
const maxSessions = 10000

// sessionID is the SHA-256 digest of a session token. Only digests are kept,
// so the map never holds a usable token.
type sessionID [sha256.Size]byte

func hashToken(tok string) sessionID { return sha256.Sum256([]byte(tok)) }

// sessionStore is a small server-side session table: token digest → expiry.
type sessionStore struct {
	ttl time.Duration
	now func() time.Time
	max int // maxSessions; a field so that tests can lower it
	// share, when set, is the replicas' shared table: the map is then a
	// cache of it. log receives its errors.
	share SessionShare
	log   *slog.Logger

	mu sync.Mutex
	m  map[sessionID]time.Time
}

func newSessionStore(ttl time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{ttl: ttl, now: now, max: maxSessions, m: make(map[sessionID]time.Time)}
}

// create starts a session and returns its token (32 random bytes, base64url).
func (s *sessionStore) create() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	exp := now.Add(s.ttl)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	if len(s.m) >= s.max {
		var oldest sessionID
		var oldestExp time.Time
		first := true
		for id, e := range s.m {
			if first || e.Before(oldestExp) {
				oldest, oldestExp, first = id, e, false
			}
		}
		delete(s.m, oldest)
	}
	id := hashToken(tok)
	s.m[id] = exp
	if s.share != nil {
		// Outside the lock would let a concurrent valid() look it up
		// before it is saved; a login may wait this long.
		if err := s.share.Save(id, exp); err != nil {
			s.log.Warn("dashboard: session not shared with the other replicas", "err", err)
		}
	}
	return tok
}

// valid reports whether id names a live session.
func (s *sessionStore) valid(id sessionID) bool {
	s.mu.Lock()
	exp, ok := s.m[id]
	s.mu.Unlock()
	if !ok && s.share != nil {
		// Not under the lock: the database may take a moment.
		var err error
		if exp, ok, err = s.share.Lookup(id); err != nil {
			s.log.Warn("dashboard: shared session lookup failed", "err", err)
		}
	}
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.now().Before(exp) {
		delete(s.m, id)
		return false
	}
	if _, cached := s.m[id]; !cached && len(s.m) < s.max {
		s.m[id] = exp
	}
	return true
}

// delete ends the session id (no-op when unknown), on every replica when shared.
func (s *sessionStore) delete(id sessionID) {
	s.dropLocal(id)
	if s.share != nil {
		if err := s.share.Delete(id); err != nil {
			s.log.Warn("dashboard: logout not shared with the other replicas", "err", err)
		}
	}
}

// dropLocal forgets the session id here only (it ended on another replica).
func (s *sessionStore) dropLocal(id sessionID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// len reports the number of stored sessions, expired ones included until pruned.
func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *sessionStore) pruneLocked(now time.Time) {
	for id, exp := range s.m {
		if !now.Before(exp) {
			delete(s.m, id)
		}
	}
}
