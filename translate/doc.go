// Package translate converts between the OpenAI chat-completions API and the
// Anthropic messages API (TRANSLATION.md): requests both ways, answers both
// ways, stream state machines both ways, errors and a local count_tokens
// estimate. Pure functions over bytes: no I/O, no clock, no project import.
//
// Files, one per direction and concern:
//
//	openai_to_anthropic_request.go  RequestOpenAIToAnthropic
//	anthropic_to_openai_request.go  RequestAnthropicToOpenAI
//	anthropic_to_openai_answer.go   AnswerAnthropicToOpenAI (+ usage arithmetic)
//	openai_to_anthropic_answer.go   AnswerOpenAIToAnthropic
//	stream_openai_to_anthropic.go   OpenAIToAnthropicStream
//	stream_anthropic_to_openai.go   AnthropicToOpenAIStream
//	errors.go                       Error, error bodies, in-band stream errors
//	count_tokens.go                 EstimateTokens, CountTokens, WantsUsage
package translate
