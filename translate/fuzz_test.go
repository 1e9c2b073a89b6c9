package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidwall/gjson"
)

// addSeeds adds every testdata/<dir>/*.in.<ext> file to the corpus.
func addSeeds(f *testing.F, dir, ext string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.in."+ext))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkJSONResult asserts a translator's contract on any input: an *Error
// whose bodies are JSON, or JSON.
func checkJSONResult(t *testing.T, out []byte, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}
		if e.Status < 400 || !json.Valid(e.OpenAI()) || !json.Valid(e.Anthropic()) {
			t.Fatalf("bad *Error %+v", e)
		}
		return
	}
	if !json.Valid(out) {
		t.Fatalf("output is not JSON: %s", out)
	}
}

// fuzzRequest checks a request translator on any bytes, and that
// Options.Checked changes nothing on valid JSON.
func fuzzRequest(f *testing.F, dir string, fn func(dst, body []byte, o Options) ([]byte, error), check ...func(*testing.T, []byte)) {
	addSeeds(f, dir, "json")
	addSeeds(f, "claude_code", "json")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := fn(nil, in, Options{ID: "f", Reasoning: true})
		checkJSONResult(t, out, err)
		for _, c := range check {
			if err == nil {
				c(t, out)
			}
		}
		if gjson.ValidBytes(in) {
			out2, err2 := fn(nil, in, Options{ID: "f", Reasoning: true, Checked: true})
			if !bytes.Equal(out, out2) || (err == nil) != (err2 == nil) {
				t.Fatalf("Checked changed the result: %s / %v vs %s / %v", out, err, out2, err2)
			}
		} else {
			_, _ = fn(nil, in, Options{Checked: true}) // wrong promise: garbage allowed, panic not
		}
	})
}

func FuzzRequestOpenAIToAnthropic(f *testing.F) {
	fuzzRequest(f, "request_openai_to_anthropic", RequestOpenAIToAnthropic, func(t *testing.T, out []byte) {
		var req struct{ Messages []struct{ Role string } }
		if err := json.Unmarshal(out, &req); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(req.Messages); i++ {
			if req.Messages[i].Role == req.Messages[i-1].Role {
				t.Fatalf("roles do not alternate: %s", out)
			}
		}
	})
}

func FuzzRequestAnthropicToOpenAI(f *testing.F) {
	fuzzRequest(f, "request_anthropic_to_openai", RequestAnthropicToOpenAI)
}

func FuzzAnswerAnthropicToOpenAI(f *testing.F) {
	addSeeds(f, "answer_anthropic_to_openai", "json")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := AnswerAnthropicToOpenAI(nil, in, Options{})
		checkJSONResult(t, out, err)
	})
}

func FuzzAnswerOpenAIToAnthropic(f *testing.F) {
	addSeeds(f, "answer_openai_to_anthropic", "json")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := AnswerOpenAIToAnthropic(nil, in, Options{})
		checkJSONResult(t, out, err)
	})
}

// fuzzStream feeds any bytes, cut in two at any point, and checks that the
// output is well-formed SSE that ends with the family's end or error.
func fuzzStream(f *testing.F, dir string, mk func() streamTranslator, ends ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.in.sse"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(len(b)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		c := min(int(cut), len(in))
		s := mk()
		out := s.Feed(nil, in[:c])
		out = s.Feed(out, in[c:])
		out = s.End(out)
		if !s.Done() {
			t.Fatal("not done after End")
		}
		requireWellFormedSSE(t, out)
		for _, e := range ends {
			if bytes.HasSuffix(out, []byte(e)) {
				return
			}
		}
		t.Fatalf("the stream does not end with its end or an error: %q", out)
	})
}

func FuzzOpenAIToAnthropicStream(f *testing.F) {
	fuzzStream(f, "stream_openai_to_anthropic",
		func() streamTranslator { return NewOpenAIToAnthropicStream(Options{}) },
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "}}\n\n")
}

func FuzzAnthropicToOpenAIStream(f *testing.F) {
	fuzzStream(f, "stream_anthropic_to_openai",
		func() streamTranslator { return NewAnthropicToOpenAIStream(Options{IncludeUsage: true}) },
		"data: [DONE]\n\n", "}}\n\n")
}

func FuzzErrors(f *testing.F) {
	f.Add(400, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`))
	f.Add(429, []byte(`{"error":{"message":"slow down","type":"rate_limit_error"}}`))
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if !json.Valid(ErrorAnthropicToOpenAI(status, body)) || !json.Valid(ErrorOpenAIToAnthropic(status, body)) {
			t.Fatal("error body is not JSON")
		}
	})
}
