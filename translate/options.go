package translate

// DefaultMaxTokens is the max_tokens sent to an Anthropic target when the
// OpenAI client sent no limit and Options.MaxTokens is zero
// (the TRANSLATE_MAX_TOKENS setting's default).
const DefaultMaxTokens = 8192

// Options carries what the translators cannot read from the bytes they get.
// Each field says which translators use it; the zero value is usable.
type Options struct {
	// Model replaces the request's model (requests); empty keeps the client's.
	Model string
	// MaxTokens is max_tokens towards Anthropic when the OpenAI client sent
	// neither max_tokens nor max_completion_tokens; zero means DefaultMaxTokens.
	MaxTokens int
	// Reasoning says the OpenAI target has a reasoning setting
	// (reasoning_effort): Anthropic thinking maps to it; false drops thinking.
	Reasoning bool
	// MaxCompletionTokens says the OpenAI target takes the limit as
	// max_completion_tokens (OpenAI's reasoning models refuse max_tokens);
	// false sends max_tokens, which every OpenAI-compatible server reads
	// (requests towards an OpenAI target).
	MaxCompletionTokens bool
	// MaxOutputTokens caps the output limit sent to an OpenAI target: an
	// Anthropic client's larger max_tokens is lowered to it; 0: no cap
	// (requests towards an OpenAI target).
	MaxOutputTokens int
	// ID names the answer when the upstream gave no id, and is the stem of
	// tool-call ids generated when the upstream gave none (answers, streams).
	// Unique per request (e.g. the proxy's request id); empty means "gen".
	ID string
	// Created is the Unix time written as "created" in OpenAI answers and
	// chunks (answers and streams towards an OpenAI client).
	Created int64
	// Checked says the request body already passed gjson.Valid (the proxy's
	// body peek checks every request): the request translators then skip
	// their own check, 40% of their CPU on a 50 KB body. Leave it false
	// for input nobody checked: without the check, invalid JSON in can give
	// invalid JSON out (never a panic).
	Checked bool
	// IncludeUsage says the OpenAI client asked for
	// stream_options.include_usage: its stream ends with a usage chunk
	// (streams towards an OpenAI client). See [WantsUsage].
	IncludeUsage bool
}

func (o *Options) maxTokens() int64 {
	if o.MaxTokens > 0 {
		return int64(o.MaxTokens)
	}
	return DefaultMaxTokens
}

func (o *Options) id() string {
	if o.ID != "" {
		return o.ID
	}
	return "gen"
}

// toolID is the id given to the n-th tool call of an answer whose upstream
// gave none: unique per request (Options.ID) and per call.
func (o *Options) toolID(b []byte, prefix string, n int) []byte {
	b = append(b, '"')
	b = append(b, prefix...)
	b = appendStringBody(b, o.id())
	b = append(b, '_')
	b = appendInt(b, int64(n))
	return append(b, '"')
}
