package stats_test

import (
	"path/filepath"
	"testing"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/storetest"
)

func TestSQLiteStore_conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "stats.db")
		return func(o storetest.Options) (stats.Store, error) {
			s, err := stats.OpenStore(stats.StoreOptions{
				Path: path, RetentionRows: o.RetentionRows, RetentionDays: o.RetentionDays, FlushInterval: o.FlushInterval,
			})
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	})
}
