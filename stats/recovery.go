package stats

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// DatabaseRecovery says that the stats database was found damaged at start,
// moved aside and replaced by a fresh one: the counters and the request log
// start over. The dashboard shows it as a banner.
type DatabaseRecovery struct {
	// At is when the damaged file was moved aside.
	At time.Time `json:"at"`
	// MovedTo is where the damaged file now lies (<name>.corrupt-<time>).
	MovedTo string `json:"moved_to"`
	// Reason is the error that showed the damage.
	Reason string `json:"reason"`
}

// errIntegrity marks a failed PRAGMA quick_check.
var errIntegrity = errors.New("integrity check failed")

// SQLite primary result codes that mean the file itself is damaged.
const (
	sqliteCorrupt = 11 // SQLITE_CORRUPT: "database disk image is malformed"
	sqliteNotADB  = 26 // SQLITE_NOTADB: "file is not a database"
)

// isDamaged reports whether err from opening a database means the file is
// damaged (and not, say, unwritable): the proxy then starts a fresh one
// rather than exit, since its statistics must never take the service down.
func isDamaged(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff // extended codes keep the primary code in the low byte
		return code == sqliteCorrupt || code == sqliteNotADB
	}
	return errors.Is(err, errIntegrity)
}

// moveAside renames the database at path, with its -wal and -shm files, to
// <path>.corrupt-<time> and returns the new name of the main file.
func moveAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + strings.ReplaceAll(now.UTC().Format("20060102T150405.000Z"), ".", "")
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move the damaged database aside: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return aside, fmt.Errorf("move the damaged database's %s aside: %w", suffix, err)
		}
	}
	return aside, nil
}

// Recovery returns what happened to a damaged database at open; nil when
// the database opened cleanly (or s is nil).
func (s *SQLiteStore) Recovery() *DatabaseRecovery {
	if s == nil {
		return nil
	}
	return s.recovery
}
