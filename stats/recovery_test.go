package stats

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Finding 10 of the hardening issue: a damaged database stopped the proxy
// (exit 1, restart loop). It is moved aside, a fresh one starts, and the
// log and the snapshot say so.
func TestOpenStore_DamagedDatabaseMovedAside(t *testing.T) {
	garbage := bytes.Repeat([]byte("not a database "), 500)
	cases := map[string]func(t *testing.T, path string){
		"not a database": func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, garbage, 0o600))
		},
		"damaged pages": func(t *testing.T, path string) {
			st, err := OpenStore(StoreOptions{Path: path})
			require.NoError(t, err)
			rec, err := NewRecorder(Options{Store: st})
			require.NoError(t, err)
			for range 3000 {
				e := okEvent()
				e.Route = "/v1/" + strings.Repeat("p", 200)
				rec.Record(e)
			}
			require.NoError(t, rec.Close())
			require.NoError(t, st.Close())
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			require.NoError(t, err)
			info, _ := f.Stat()
			for off := int64(8192); off < info.Size()-4096; off += 16384 {
				_, err = f.WriteAt(bytes.Repeat([]byte{0xA5}, 2048), off)
				require.NoError(t, err)
			}
			require.NoError(t, f.Close())
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "stats.db")
			damage(t, path)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			var logs bytes.Buffer
			st, err := OpenStore(StoreOptions{Path: path, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			require.NoError(t, err, "a damaged database never stops the proxy")
			defer st.Close()

			r := st.Recovery()
			require.NotNil(t, r)
			assert.True(t, strings.HasPrefix(r.MovedTo, path+".corrupt-"), r.MovedTo)
			assert.WithinDuration(t, time.Now(), r.At, time.Minute)
			assert.NotEmpty(t, r.Reason)
			aside, err := os.ReadFile(r.MovedTo)
			require.NoError(t, err, "the damaged file is kept for inspection")
			assert.Equal(t, before, aside)
			assert.Contains(t, logs.String(), `"level":"ERROR"`)
			assert.Contains(t, logs.String(), "DAMAGED")

			rec, err := NewRecorder(Options{Store: st})
			require.NoError(t, err)
			rec.Record(okEvent())
			snap := rec.Snapshot()
			require.NoError(t, rec.Close())
			assert.Equal(t, int64(1), snap.Totals.Requests, "the fresh database works")
			require.NotNil(t, snap.Database, "the snapshot has the database's health")
			require.NotNil(t, snap.Database.Recovered, "the snapshot carries the banner")
			assert.Equal(t, r.MovedTo, snap.Database.Recovered.MovedTo)
		})
	}
}

func TestOpenStore_CleanDatabaseHasNoRecovery(t *testing.T) {
	st, err := OpenStore(StoreOptions{Path: filepath.Join(t.TempDir(), "ok.db")})
	require.NoError(t, err)
	defer st.Close()
	assert.Nil(t, st.Recovery())
}
