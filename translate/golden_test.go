package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// -update rewrites the golden files from the translators' output. Goldens
// are the spec: read every changed one before committing it.
var update = flag.Bool("update", false, "rewrite testdata/*/*.golden.* from the current output")

// goldenOptions are the options every golden case runs with; a case whose
// name contains "reasoning" sets Reasoning, "include_usage" IncludeUsage,
// "max_tokens_setting" MaxTokens 1000, "as_max_completion_tokens"
// MaxCompletionTokens, "max_output_8192" MaxOutputTokens 8192.
func goldenOptions(name string) Options {
	o := Options{ID: "req1", Created: 1700000000}
	o.Reasoning = strings.Contains(name, "reasoning")
	o.IncludeUsage = strings.Contains(name, "include_usage")
	if strings.Contains(name, "max_tokens_setting") {
		o.MaxTokens = 1000
	}
	o.MaxCompletionTokens = strings.Contains(name, "as_max_completion_tokens")
	if strings.Contains(name, "max_output_8192") {
		o.MaxOutputTokens = 8192
	}
	return o
}

// errorGolden is how a refusal is written in a .golden.json file.
type errorGolden struct {
	Error *Error `json:"error"`
}

// runJSONGolden runs fn on every dir/*.in.json and compares with
// dir/*.golden.json (an answer, or {"error":{…}} for a refusal).
func runJSONGolden(t *testing.T, dir string, fn func(dst, body []byte, o Options) ([]byte, error)) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", dir, "*.in.json"))
	require.NoError(t, err)
	require.NotEmpty(t, ins, "no cases in testdata/%s", dir)
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			require.NoError(t, err)
			out, terr := fn(nil, body, goldenOptions(name))
			var got []byte
			if terr != nil {
				var e *Error
				require.True(t, errors.As(terr, &e), "error %v is not an *Error", terr)
				got, err = json.Marshal(errorGolden{e})
				require.NoError(t, err)
			} else {
				require.True(t, json.Valid(out), "output is not valid JSON: %s", out)
				got = out
			}
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, got, "", "  "))
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", dir, name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden (run go test ./translate -update, then review it)")
			require.Equal(t, string(want), pretty.String())
		})
	}
}

// streamTranslator is what both stream translators offer.
type streamTranslator = Stream

// runStreamGolden feeds every dir/*.in.sse to a new translator, whole and
// then one byte at a time (the output must not depend on the split), ends
// it, checks that every data line is JSON or [DONE], and compares with
// dir/*.golden.sse.
func runStreamGolden(t *testing.T, dir string, mk func(Options) streamTranslator) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", dir, "*.in.sse"))
	require.NoError(t, err)
	require.NotEmpty(t, ins, "no cases in testdata/%s", dir)
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.sse")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			require.NoError(t, err)
			s := mk(goldenOptions(name))
			got := s.End(s.Feed(nil, body))
			require.True(t, s.Done())

			s2 := mk(goldenOptions(name))
			var split []byte
			for i := range body {
				split = s2.Feed(split, body[i:i+1])
			}
			split = s2.End(split)
			require.Equal(t, string(got), string(split), "output depends on how the input is split")
			requireWellFormedSSE(t, got)

			path := filepath.Join("testdata", dir, name+".golden.sse")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "missing golden (run go test ./translate -update, then review it)")
			require.Equal(t, string(want), string(got))
		})
	}
}

// requireWellFormedSSE checks that out is a sequence of events each ending
// with a blank line, whose data is one JSON object or [DONE].
func requireWellFormedSSE(t testing.TB, out []byte) {
	t.Helper()
	for len(out) > 0 {
		end := eventEnd(out)
		require.Greater(t, end, 0, "unterminated event: %q", out)
		_, data := fields(out[:end])
		require.True(t, string(data) == "[DONE]" || json.Valid(data), "data is not JSON: %q", data)
		out = out[end:]
	}
}

func TestRequestOpenAIToAnthropic_Golden(t *testing.T) {
	runJSONGolden(t, "request_openai_to_anthropic", RequestOpenAIToAnthropic)
}

func TestRequestAnthropicToOpenAI_Golden(t *testing.T) {
	runJSONGolden(t, "request_anthropic_to_openai", RequestAnthropicToOpenAI)
}

func TestAnswerAnthropicToOpenAI_Golden(t *testing.T) {
	runJSONGolden(t, "answer_anthropic_to_openai", AnswerAnthropicToOpenAI)
}

func TestAnswerOpenAIToAnthropic_Golden(t *testing.T) {
	runJSONGolden(t, "answer_openai_to_anthropic", AnswerOpenAIToAnthropic)
}

func TestOpenAIToAnthropicStream_Golden(t *testing.T) {
	runStreamGolden(t, "stream_openai_to_anthropic", func(o Options) streamTranslator { return NewOpenAIToAnthropicStream(o) })
}

func TestAnthropicToOpenAIStream_Golden(t *testing.T) {
	runStreamGolden(t, "stream_anthropic_to_openai", func(o Options) streamTranslator { return NewAnthropicToOpenAIStream(o) })
}

// The request translators pool their tapes: concurrent calls must not see
// each other's (run with -race).
func TestRequestAnthropicToOpenAI_Concurrent(t *testing.T) {
	body := claudeCode(t)
	want, err := RequestAnthropicToOpenAI(nil, body, Options{})
	require.NoError(t, err)
	back, err := RequestOpenAIToAnthropic(nil, want, Options{})
	require.NoError(t, err)
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 20 {
				got, err := RequestAnthropicToOpenAI(nil, body, Options{})
				if err == nil && !bytes.Equal(got, want) {
					err = errors.New("different output under concurrency")
				}
				if err == nil {
					got, err = RequestOpenAIToAnthropic(nil, want, Options{})
					if err == nil && !bytes.Equal(got, back) {
						err = errors.New("different output under concurrency")
					}
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		require.NoError(t, <-done)
	}
}
