package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

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
	s.m[hashToken(tok)] = exp
	return tok
}

// valid reports whether id names a live session.
func (s *sessionStore) valid(id sessionID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[id]
	if !ok {
		return false
	}
	if !s.now().Before(exp) {
		delete(s.m, id)
		return false
	}
	return true
}

// delete ends the session id (no-op when unknown).
func (s *sessionStore) delete(id sessionID) {
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
