package translate

// Direction names a translation by the client's API and the target's, so
// that the request path picks every translator of an attempt at once.
type Direction uint8

const (
	// None is no translation: the client and the target speak one API.
	None Direction = iota
	// OpenAIToAnthropic is an OpenAI client in front of an Anthropic target.
	OpenAIToAnthropic
	// AnthropicToOpenAI is an Anthropic client in front of an OpenAI target.
	AnthropicToOpenAI
)

// String names the direction as the record shows it ("openai→anthropic").
func (d Direction) String() string {
	switch d {
	case OpenAIToAnthropic:
		return "openai→anthropic"
	case AnthropicToOpenAI:
		return "anthropic→openai"
	}
	return "none"
}

// Path is the target's path for the client's translated route
// (/v1/chat/completions ⇄ /v1/messages; the query, such as Claude Code's
// ?beta=true, is not carried over); ok is false for a route that is never
// translated (count_tokens towards OpenAI is answered with [CountTokens]).
func (d Direction) Path(clientPath string) (path string, ok bool) {
	for i := range len(clientPath) {
		if clientPath[i] == '?' {
			clientPath = clientPath[:i]
			break
		}
	}
	switch {
	case d == OpenAIToAnthropic && clientPath == "/v1/chat/completions":
		return "/v1/messages", true
	case d == AnthropicToOpenAI && clientPath == "/v1/messages":
		return "/v1/chat/completions", true
	}
	return "", false
}

// Request translates the client's request body for the target.
func (d Direction) Request(dst, body []byte, o Options) ([]byte, error) {
	if d == OpenAIToAnthropic {
		return RequestOpenAIToAnthropic(dst, body, o)
	}
	return RequestAnthropicToOpenAI(dst, body, o)
}

// Answer translates the target's 2xx non-stream answer for the client.
func (d Direction) Answer(dst, body []byte, o Options) ([]byte, error) {
	if d == OpenAIToAnthropic {
		return AnswerAnthropicToOpenAI(dst, body, o)
	}
	return AnswerOpenAIToAnthropic(dst, body, o)
}

// Error renders the target's error answer in the client's shape.
func (d Direction) Error(status int, body []byte) []byte {
	if d == OpenAIToAnthropic {
		return ErrorAnthropicToOpenAI(status, body)
	}
	return ErrorOpenAIToAnthropic(status, body)
}

// Stream returns the translator for the target's SSE stream.
func (d Direction) Stream(o Options) Stream {
	if d == OpenAIToAnthropic {
		return NewAnthropicToOpenAIStream(o)
	}
	return NewOpenAIToAnthropicStream(o)
}
