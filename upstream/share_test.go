package upstream

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recordingShare struct {
	mu  sync.Mutex
	got []string
}

func (r *recordingShare) Learned(target, model string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, target+"/"+model+"@"+until.Format(time.RFC3339Nano))
}

func TestTargets_SetCooldownShare(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1/v1")
	ts := NewTargets([]Spec{{Name: "a", URL: u, Key: "k"}, {Name: "b", URL: u, Key: "k"}}, ClientOptions{})
	defer ts.Close()
	share := &recordingShare{}
	ts.SetCooldownShare(share)
	now := time.Now()
	a := ts.All()[0]

	a.coolFor(now, 10*time.Second)
	a.coolFor(now, 5*time.Second) // shorter than the running one: nothing new to share
	require.Len(t, share.got, 1)
	assert.Equal(t, "a/@"+now.Add(10*time.Second).Format(time.RFC3339Nano), share.got[0])

	// A cooldown from another replica applies without echo.
	require.True(t, ts.ApplyCooldown("b", "", now.Add(20*time.Second)))
	until, cooling := ts.All()[1].CoolingUntil(now)
	assert.True(t, cooling)
	assert.Equal(t, now.Add(20*time.Second).UnixNano(), until.UnixNano())
	assert.False(t, ts.ApplyCooldown("nope", "", now.Add(time.Second)))
	assert.Len(t, share.got, 1)
}
