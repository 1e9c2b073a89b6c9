package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/handlers/dashboard/dashboardtest"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// The dashboard of one replica lists both replicas, shows the other's
// requests live, and says "database unavailable since …" while PostgreSQL
// (a throwaway cluster of this test's own) is stopped, and no more after.
func TestBrowser_ReplicasAndDatabaseBanner(t *testing.T) {
	dashboardtest.RequireChromium(t)
	cluster := pgtest.NewCluster(t)
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	ps := startReplicas(t, up, cluster.URL("postgres", pgtest.Password), "a", "b")

	b := dashboardtest.NewBrowser(t, 1360, 1000, 90*time.Second)
	require.NoError(t, chromedp.Do(b.Ctx,
		chromedp.Navigate(ps[0].base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[type=password][name=key]`)),
		chromedp.SendKeys(chromedp.CSS(`input[type=password][name=key]`), clientKey+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="total-requests"]`)),
	))
	b.WaitJS(t, "the live feed", `document.body.dataset.conn === "live"`, 10*time.Second)
	b.WaitJS(t, "two replicas listed", `document.querySelectorAll('#replicas li').length === 2`, 10*time.Second)
	assert.Contains(t, b.TextContent(t, "#replicas"), "a (this page)")

	require.True(t, send(t, ps[1].base))
	b.WaitJS(t, "B's request on A's page", `document.querySelector('[data-testid="total-requests"]').dataset.value === "1"`, 3*time.Second)

	cluster.Stop(t)
	b.WaitJS(t, "the database banner", `document.body.dataset.db === "down"`, 10*time.Second)
	assert.Contains(t, b.Text(t, "#db-banner"), "Database unavailable since")
	require.True(t, send(t, ps[0].base), "proxying goes on")
	cluster.Start(t)
	b.WaitJS(t, "the banner gone", `document.body.dataset.db === "ok"`, 20*time.Second)
}
