package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
