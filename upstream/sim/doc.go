// Package sim is a simulated OpenAI + Anthropic upstream served on
// 127.0.0.1, shared by the proxy's end-to-end tests, the fault-injection
// suite, the benchmark load and `llm-proxy -demo`.
//
// A [Server] answers every request under /v1 with a default simulation
// (chat completions, messages, count_tokens, models, responses, embeddings;
// streaming and not) unless a scripted [Step] is queued with [Server.Push].
// Steps can return any status, headers, body or SSE events, and inject
// transport faults ([FaultReset], [FaultClose], [FaultHang],
// [FaultCutStream], [FaultStall], [FaultDoubleAnswer], [FaultIdleBytes],
// [FaultResetMidHeaders], [FaultShortBody], [FaultPauseMidEvent]).
//
// For soak tests, a request may carry an id in [IDHeader]: the server
// echoes it in the answer and in every default stream event, and counts
// the requests per id ([Server.CountID]). [Options.Chaos] injects the faults
// at random (seeded) into default answers; [Server.SetKeyState] (revoked,
// quota exhausted, recovered) and [Options.Hook] give per-key and per-model
// behaviour; [Server.OpenConns] shows connections left open.
//
// Every handler ends when the client goes away, and reports that on
// [Server.Gone]; [Server.Close] closes every connection, hijacked and hung
// ones included, and waits for all handlers to return.
//
// The event helpers ([OpenAIStream], [AnthropicStream], [OpenAIChunk], …)
// build realistic wire text for scripted steps and for assertions.
package sim
