package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/llm-proxy/llm-proxy/routing"
)

// A routing change survives the trip through the store's form (what
// another replica applies is what this one learned).
func TestToShared_roundTrip(t *testing.T) {
	until := time.Unix(1700000000, 0)
	at := time.Unix(1699999990, 0)
	for _, c := range []routing.Change{
		{Kind: routing.ChangeCool, Target: "openai#a1b2", Model: "gpt-4o", Until: until, Capped: true, At: at},
		{Kind: routing.ChangeDisable, Target: "openai#a1b2", Until: until, Reason: "401 invalid key", Quota: true, At: at},
		{Kind: routing.ChangeEnable, Target: "openai#a1b2", At: at},
	} {
		got := fromShared(toShared(c), at)
		assert.Equal(t, c, got)
	}
}
