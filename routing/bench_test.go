package routing

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchFile is 100 targets and 50 model patterns: 25 providers of 4 keys
// each, in two priorities, each serving two patterns, and 50 models: entries.
func benchFile() string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := range 25 {
		fmt.Fprintf(&b, "  - name: p%d\n    url: http://p%d.example/v1\n    keys: [a%d, b%d, c%d, d%d]\n    models: [\"fam%d-*\", \"shared-*\"]\n    weight: %d\n    priority: %d\n", i, i, i, i, i, i, i%25, 1+i%3, i%2)
	}
	b.WriteString("models:\n")
	for i := range 50 {
		fmt.Fprintf(&b, "  \"fam%d-*\": {first_byte_timeout: %ds}\n", i, i+1)
	}
	return b.String()
}

func BenchmarkRouting_Choose(b *testing.B) {
	r := mustRouting(b, benchFile(), nil)
	if n := len(r.Targets()); n != 100 {
		b.Fatalf("targets = %d", n)
	}
	model := []byte("shared-large")
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		plan, ok := r.Plan(FamilyOpenAI, model)
		if !ok {
			b.Fatal("not served")
		}
		p := r.Picker(plan.Step())
		if _, _, res := p.Next(now); res != Picked {
			b.Fatal(res)
		}
	}
}

func TestRouting_ChooseNoAlloc(t *testing.T) {
	r := mustRouting(t, benchFile(), nil)
	model := []byte("fam3-x")
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		plan, _ := r.Plan(FamilyOpenAI, model)
		p := r.Picker(plan.Step())
		p.Next(now)
	})
	if allocs != 0 {
		t.Errorf("allocs per choice = %v, want 0", allocs)
	}
}
