package upstream

import (
	"testing"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/translate"
)

// A translated step goes from the client's API to the other one.
func TestStepDirection(t *testing.T) {
	for _, c := range []struct {
		translated bool
		fam        routing.Family
		want       translate.Direction
	}{
		{false, routing.FamilyOpenAI, translate.None},
		{false, routing.FamilyAnthropic, translate.None},
		{true, routing.FamilyOpenAI, translate.OpenAIToAnthropic},
		{true, routing.FamilyAnthropic, translate.AnthropicToOpenAI},
	} {
		if got := stepDirection(&routing.Step{Translated: c.translated}, c.fam); got != c.want {
			t.Errorf("translated %v, family %v: %v, want %v", c.translated, c.fam, got, c.want)
		}
	}
}
