package upstream

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Finding 2 of the hardening issue: one 429 with Retry-After: 86400 took the
// only target out for a day. A cooldown is capped at MaxCooldown, and the
// target's state says when the cap was applied.
func TestTarget_coolForCapsRetryAfter(t *testing.T) {
	u, err := url.Parse("http://127.0.0.1:1/v1")
	require.NoError(t, err)
	p := NewTargets([]Spec{{Name: "a", URL: u, Key: "k"}}, ClientOptions{ConnectTimeout: time.Second, MaxConns: 1, MaxCooldown: 5 * time.Minute})
	defer p.Close()
	tg := p.All()[0]
	now := time.Now()

	tg.coolFor(now, 30*time.Second)
	assert.Nil(t, p.States(now)[0].CooldownCapped, "a cooldown within the cap is honoured as asked")

	tg.coolFor(now, 24*time.Hour)
	until, cooling := tg.CoolingUntil(now)
	require.True(t, cooling)
	assert.Equal(t, now.Add(5*time.Minute).UnixNano(), until.UnixNano(), "cut to MaxCooldown")
	c := p.States(now)[0].CooldownCapped
	require.NotNil(t, c, "the state says the cap was applied")
	assert.Equal(t, 24*time.Hour, c.Asked)
	assert.Equal(t, 5*time.Minute, c.Capped)
	assert.Equal(t, now, c.At)
	_, cooling = tg.CoolingUntil(now.Add(5*time.Minute + time.Second))
	assert.False(t, cooling, "available again after the cap")
}
