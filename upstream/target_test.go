package upstream

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testTargets(t *testing.T, n int) *Targets {
	t.Helper()
	specs := make([]Spec, n)
	for i := range specs {
		u, err := url.Parse("http://127.0.0.1:1/v1")
		require.NoError(t, err)
		specs[i] = Spec{Name: string(rune('a' + i)), URL: u, Key: "sk-secret-" + string(rune('a'+i))}
	}
	return NewTargets(specs, ClientOptions{ConnectTimeout: time.Second, MaxConns: 4})
}

func picks(r *rotation, now time.Time, n int) string {
	var b strings.Builder
	for range n {
		t, _ := r.pick(now)
		b.WriteString(t.Name())
	}
	return b.String()
}

func TestRotation_VisitsAllBeforeRepeating(t *testing.T) {
	p := testTargets(t, 3)
	now := time.Now()
	r := p.rotation()
	assert.Equal(t, "abcabc", picks(&r, now, 6))
	r2 := p.rotation()
	assert.Equal(t, "bcab", picks(&r2, now, 4), "the next request starts one further")
	r3 := p.rotation()
	assert.Equal(t, "cab", picks(&r3, now, 3))
}

func TestRotation_SkipsCoolingTargets(t *testing.T) {
	p := testTargets(t, 3)
	now := time.Now()
	p.targets[1].coolFor(now, 10*time.Second) // b cools
	r := p.rotation()
	assert.Equal(t, "acac", picks(&r, now, 4), "b is skipped while others are available")
	t1, wait := r.pick(now.Add(11 * time.Second))
	assert.Equal(t, "b", t1.Name(), "b is back once its cooldown ended")
	assert.Zero(t, wait)
}

func TestRotation_AllCoolingWaitsForSoonest(t *testing.T) {
	p := testTargets(t, 3)
	now := time.Now()
	p.targets[0].coolFor(now, 30*time.Second)
	p.targets[1].coolFor(now, 2*time.Second)
	p.targets[2].coolFor(now, 10*time.Second)
	r := p.rotation()
	tg, wait := r.pick(now)
	assert.Equal(t, "b", tg.Name())
	assert.Equal(t, 2*time.Second, wait)
}

func TestRotation_RepeatsAvailableRatherThanWaiting(t *testing.T) {
	p := testTargets(t, 2)
	now := time.Now()
	r := p.rotation()
	first, _ := r.pick(now) // a, then it answers 500 (no cooldown)
	p.targets[1].coolFor(now, time.Minute)
	again, wait := r.pick(now)
	assert.Equal(t, first, again, "a free target is repeated instead of waiting for a cooling one")
	assert.Zero(t, wait)
}

func TestTarget_CoolForKeepsLonger(t *testing.T) {
	p := testTargets(t, 1)
	tg := p.targets[0]
	now := time.Now()
	tg.coolFor(now, time.Minute)
	tg.coolFor(now, time.Second)
	until, cooling := tg.CoolingUntil(now)
	assert.True(t, cooling)
	assert.Equal(t, now.Add(time.Minute).UnixNano(), until.UnixNano())
	_, cooling = tg.CoolingUntil(now.Add(2 * time.Minute))
	assert.False(t, cooling, "cooldown ends by itself")
}

func TestTarget_StringNeverShowsKey(t *testing.T) {
	p := testTargets(t, 2)
	for _, tg := range p.All() {
		assert.NotContains(t, tg.String(), "secret")
	}
	for _, s := range p.States(time.Now()) {
		assert.NotContains(t, s.Name+s.LastError, "secret")
	}
}

func TestRotation_NoAllocs(t *testing.T) {
	p := testTargets(t, 4)
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		r := p.rotation()
		r.pick(now)
		r.pick(now)
	})
	assert.Zero(t, allocs)
}
