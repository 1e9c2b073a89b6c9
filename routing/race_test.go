package routing

import (
	"sync"
	"testing"
	"time"
)

// TestPicker_Concurrent: picks, cooldowns, health changes and state reads
// from many goroutines at once (run with -race).
func TestPicker_Concurrent(t *testing.T) {
	r := mustRouting(t, benchFile(), nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := time.Now()
			model := []byte("shared-x")
			for i := range 500 {
				plan, _ := r.Plan(FamilyOpenAI, model)
				p := r.Picker(plan.Step())
				tg, _, res := p.Next(now)
				if res != Picked {
					continue
				}
				switch (i + g) % 50 {
				case 0:
					r.CoolDown(tg, "shared-x", time.Millisecond, now)
				case 1:
					r.Disable(tg, "unauthorized (401)", false, now)
				case 2:
					r.Succeeded(tg, now)
				case 3:
					r.States(now)
				}
			}
		}()
	}
	wg.Wait()
}
