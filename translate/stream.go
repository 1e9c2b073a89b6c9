package translate

// Stream is what both stream translators do, for a relay that holds either:
// Feed with upstream bytes as they arrive and write what it returns (flush
// per call); End at the upstream's EOF, Fail on a read error; Done once the
// client's stream has its end ([DONE] / message_stop) or its error event.
// Every method appends to dst and returns it.
type Stream interface {
	Feed(dst, chunk []byte) []byte
	End(dst []byte) []byte
	Fail(dst []byte, msg string) []byte
	Done() bool
}

var (
	_ Stream = (*OpenAIToAnthropicStream)(nil)
	_ Stream = (*AnthropicToOpenAIStream)(nil)
)
