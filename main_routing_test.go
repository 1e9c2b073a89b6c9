package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/handlers/dashboard/dashboardtest"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

const routingFile = `targets:
  - name: openai
    url: https://api.openai.com/v1
    keys: ["${OPENAI_KEY_A}", "${OPENAI_KEY_B}"]
    models: ["gpt-*"]
  - name: claude
    url: https://api.anthropic.com/v1
    keys: ["${ANTHROPIC_KEY}"]
    models: ["claude-*"]
models:
  fast: {to: gpt-4o-mini}
  gpt-4o: {fallback: [fast, claude-sonnet-4-5]}
`

func TestCheckConfig_PrintsResolvedRoutingKeysMasked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "llm-proxy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(routingFile), 0o600))
	cmd := exec.Command(binary, "-check-config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "OPENAI_KEY_A=sk-proj-aaaaaaaaaaaaaaaa1111", "OPENAI_KEY_B=sk-proj-bbbbbbbbbbbbbbbb2222", "ANTHROPIC_KEY=sk-ant-cccccccccccccccc3333"}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{path + ": OK", "openai#1", "openai#2", "claude", "sk-…1111", "sk-…3333", "anthropic", "fast", "gpt-4o-mini", "fast,claude-sonnet-4-5"} {
		assert.Contains(t, string(out), want)
	}
	assert.NotContains(t, string(out), "aaaaaaaa")
	assert.NotContains(t, string(out), "cccccccc")
}

func TestCheckConfig_BadFileOneLineWithLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "llm-proxy.yaml")
	bad := strings.Replace(routingFile, `models: ["claude-*"]`, "models: [\"claude-*\"]\n    weight: x", 1)
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))
	for _, args := range [][]string{{"-check-config", path}, {"-config", path}} {
		cmd := exec.Command(binary, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MY_ACCESS_KEY=c", "DB_PATH=memory", "OPENAI_KEY_A=a", "OPENAI_KEY_B=b", "ANTHROPIC_KEY=c"}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		assert.Equal(t, 1, ee.ExitCode())
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
		assert.Contains(t, string(out), path+`:10: targets[1].weight: not a number: "x"`)
	}
	// An unset variable is named.
	cmd := exec.Command(binary, "-check-config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, _ := cmd.CombinedOutput()
	assert.Contains(t, string(out), "environment variable OPENAI_KEY_A is not set")
}

func TestConfigFile_ExclusiveWithProxyURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "llm-proxy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(routingFile), 0o600))
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MY_ACCESS_KEY=c", "DB_PATH=memory", "CONFIG_FILE=" + path, "PROXY_URL=https://a/v1", "API_KEY=k",
		"OPENAI_KEY_A=a", "OPENAI_KEY_B=b", "ANTHROPIC_KEY=c"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Contains(t, string(out), "CONFIG_FILE: ")
	assert.Contains(t, string(out), "pick one")
}

// TestREADME_RoutingExampleChecks: the README's routing file example (EN
// and 中文) is a valid file.
func TestREADME_RoutingExampleChecks(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for _, heading := range []string{"## Routing file\n", "## 路由文件\n"} {
		_, rest, ok := strings.Cut(string(readme), heading)
		require.True(t, ok, heading)
		_, rest, ok = strings.Cut(rest, "```yaml\n")
		require.True(t, ok)
		example, _, _ := strings.Cut(rest, "```")
		path := filepath.Join(t.TempDir(), "example.yaml")
		require.NoError(t, os.WriteFile(path, []byte(example), 0o600))
		cmd := exec.Command(binary, "-check-config", path)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "OPENAI_KEY_A=sk-a-123456789012", "OPENAI_KEY_B=sk-b-123456789012", "ANTHROPIC_KEY=sk-ant-1234567890", "RELAY_KEY=sk-relay-12345678"}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", heading, out)
		assert.Contains(t, string(out), "openai#2")
		assert.Contains(t, string(out), "relay")
	}
}

// TestBrowser_RoutingStateOnTheDashboard: with a routing file, the page
// shows a revoked key as disabled with its reason, the model an alias was
// served by, and a refused reload as a banner.
func TestBrowser_RoutingStateOnTheDashboard(t *testing.T) {
	dashboardtest.RequireChromium(t)
	up, err := sim.New(sim.Options{})
	require.NoError(t, err)
	defer up.Close()
	up.SetKeyState("sk-key-A-12345678", sim.KeyRevoked)
	dir := t.TempDir()
	path := filepath.Join(dir, "llm-proxy.yaml")
	file := "targets:\n  - {name: a, url: \"" + up.URL() + "\", keys: [\"${KEY_A}\"]}\n  - {name: b, url: \"" + up.URL() + "\", keys: [\"${KEY_B}\"]}\nmodels:\n  fast: {to: gpt-4o-mini}\n"
	require.NoError(t, os.WriteFile(path, []byte(file), 0o600))
	p := start(t, map[string]string{"CONFIG_FILE": path, "KEY_A": "sk-key-A-12345678", "KEY_B": "sk-key-B-12345678", "MY_ACCESS_KEY": clientKey, "DB_PATH": "memory"})
	ask := func() {
		req, _ := http.NewRequest("POST", p.base+"/v1/chat/completions", strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	w := dashboardtest.LoginAndWatch(t, p.base, clientKey, ask)
	w.Browser.WaitJS(t, "target a shown disabled with its reason",
		`[...document.querySelectorAll('#targets li')].some(li => li.querySelector('.chip-fail') && li.textContent.includes('unauthorized (401)'))`, 5*time.Second)
	w.Browser.WaitJS(t, "the served model in the latest requests",
		`document.body.textContent.includes('served by gpt-4o-mini')`, 5*time.Second)
	w.Browser.WaitJS(t, "the by-model table",
		`!document.getElementById('models-card').hidden && document.getElementById('models').textContent.includes('fast')`, 5*time.Second)
	w.Browser.WaitJS(t, "per-target figures over 5 minutes",
		`[...document.querySelectorAll('#targets .target-window')].some(d => d.textContent.includes('p50'))`, 5*time.Second)
	// A bad file on SIGHUP: refused, the banner says why, requests still work.
	require.NoError(t, os.WriteFile(path, []byte(file+"  bad: [\n"), 0o600))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.output.String(), "routing file refused") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ask() // an update carries the status to the page
	w.Browser.WaitJS(t, "the reload error banner",
		`!document.getElementById('routing-banner').hidden && document.getElementById('routing-banner').textContent.includes('llm-proxy.yaml:6')`, 5*time.Second)
}
