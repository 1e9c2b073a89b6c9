// Package translate converts between the OpenAI chat-completions API and the
// Anthropic messages API (TRANSLATION.md): requests both ways, answers both
// ways, stream state machines both ways, errors, and a local count_tokens
// estimate. Pure functions over bytes: no I/O, no clock (the caller passes
// Options.Created), no project import.
//
// Files, one per direction and concern:
//
//	openai_to_anthropic_request.go  RequestOpenAIToAnthropic
//	anthropic_to_openai_request.go  RequestAnthropicToOpenAI
//	anthropic_to_openai_answer.go   AnswerAnthropicToOpenAI, usage arithmetic
//	openai_to_anthropic_answer.go   AnswerOpenAIToAnthropic
//	stream_openai_to_anthropic.go   OpenAIToAnthropicStream
//	stream_anthropic_to_openai.go   AnthropicToOpenAIStream
//	errors.go                       Error (400 refusals), error bodies, in-band stream errors
//	count_tokens.go                 EstimateTokens, CountTokens, WantsUsage
//	direction.go, stream.go         Direction (picks the translators and the path), Stream
//	scan.go, jsonw.go, sse.go       the JSON walk, the JSON writer, SSE framing
//
// # Wire types: bytes, not the SDKs' types
//
// Decided by benchmark on the 50 KB Claude Code-like request of
// testdata/claude_code (2 cores shared with other work, load average 20–30:
// figures are the benchmark thread's CPU time, cpu-ns/op, which that load
// inflates far less than ns/op, over several runs of -count 5):
//
//	                                SDK types                this package
//	50 KB request → other API       5.4 ms (decode+encode,   23–28 µs (Options.Checked)
//	                                no mapping counted)      38–44 µs (validating itself)
//	one stream event                20 µs                    0.6–1.8 µs
//
// (this package's figures re-measured 2026-12-02, load average 3–5, with
// validTape; before it, 31–37 µs and 69–76 µs that day.)
//
// SDK figures: cd translate/testdata/sdkbench && go test -bench . -benchtime 100x
// (a module of its own, so the translators are measured without the SDKs,
// which the proxy's own tests use only as clients; decoding
// into anthropic.MessageNewParams alone is 3.5 ms and 1.7 MB). Ours:
// go test -run '^$' -bench . -benchtime 3000x ./translate [-checked].
//
// The SDKs' params decode through their own reflection-based JSON layer
// into typed unions, and re-encoding walks them again: two orders of
// magnitude over the budget (50 µs per 50 KB request, 3 µs per stream
// event). So the translators validate once (skipped with Options.Checked
// when the proxy's body peek already did; valid.go accepts what gjson.Valid
// does, eight bytes of a string at a time, and builds the tape in the same
// pass: half gjson.Valid's time, and the tape for free), walk the input
// without decoding strings (scan.go: gjson's ForEach unescapes every string it passes, a
// copy of each system prompt and tool description), and append raw JSON
// tokens — texts, ids, schemas, partial arguments — to the output. Strings
// are joined by concatenating their escaped forms, so text is never
// decoded and re-encoded. A tape of container ends (scan.go) makes the walk
// one scan of the body rather than one per nesting level.
//
// # What is mapped, dropped and refused
//
// OpenAI → Anthropic (RequestOpenAIToAnthropic): system and developer
// messages, wherever they are, become system text blocks in order;
// consecutive same-role messages merge into one turn, and a user turn lists
// its tool_result blocks first; tool messages become tool_result blocks;
// images (data URLs → base64, other URLs → url); tool_calls → tool_use with
// the arguments string parsed into input ("" → {}); tools, tool_choice
// (auto, required → any, none, a named function → tool),
// parallel_tool_calls=false → disable_parallel_tool_use; max_completion_tokens
// or max_tokens, else Options.MaxTokens (TRANSLATE_MAX_TOKENS, default
// 8192); temperature clamped to 1; top_p; stop → stop_sequences; user →
// metadata.user_id; reasoning_effort → thinking with a budget (low 1024,
// medium 4096, high 16384, below max_tokens; temperature and top_p are then
// left out, which Anthropic requires). Dropped: stream_options, seed,
// frequency/presence_penalty, logit_bias, logprobs, store, metadata,
// service_tier, message names, an assistant's reasoning_content (Anthropic
// needs a signature it cannot have), response_format {"type":"text"}, n=1.
// Refused (400 naming the field): n > 1, audio and modalities with audio,
// input_audio and file parts, response_format other than text,
// web_search_options, functions/function_call, non-function tools.
//
// Anthropic → OpenAI (RequestAnthropicToOpenAI): system (string or blocks,
// joined with a blank line), then the text of messages whose role is
// "system" (Claude Code's mid-conversation system messages), in order → one
// leading system message; text-only user content →
// a string, else parts (images → image_url with a data URL or the URL,
// base64 documents → file parts, text documents → text); tool_result blocks
// → tool messages first (is_error marked with "Error: " in the text; their
// images follow in the user message); assistant text joined, thinking →
// reasoning_content with Options.Reasoning, else dropped (signatures and
// redacted_thinking always dropped), tool_use →
// tool_calls with input as the arguments string; tools (input_schema →
// parameters), tool_choice (any → required, tool → named function),
// disable_parallel_tool_use → parallel_tool_calls=false; max_tokens (as
// max_completion_tokens with Options.MaxCompletionTokens),
// temperature, top_p, stop_sequences → stop, metadata.user_id → user (its
// SHA-256 in hex when longer than OpenAI's 64 characters);
// stream asks for stream_options.include_usage; output_config.effort (max
// → high), else thinking → reasoning_effort (budget < 4096 low, < 16384
// medium, else high; adaptive → medium) only with Options.Reasoning, else
// dropped. Dropped: output_config, top_k, context_management,
// cache_control, other metadata, service_tier, container. Refused: server
// tools (web_search, code_execution, bash/text_editor/computer types) and
// their blocks, mcp_servers, unknown content blocks.
//
// Answers map content, tool calls (ids pass through; generated from
// Options.ID only when absent), stop reasons (end_turn ⇄ stop, max_tokens ⇄
// length, tool_use ⇄ tool_calls, stop_sequence → stop, refusal ⇄
// content_filter) and usage (prompt_tokens = input_tokens +
// cache_read_input_tokens + cache_creation_input_tokens; cached_tokens ⇄
// cache_read_input_tokens), and never contain an empty text block.
// Tool-call arguments that are not a JSON object become {"arguments":
// "<text>"} rather than being lost.
package translate
