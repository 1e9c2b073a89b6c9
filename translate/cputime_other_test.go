//go:build !linux

package translate

import "testing"

// cpuTimer reports nothing where the thread's CPU time is not available.
func cpuTimer(*testing.B) func() { return func() {} }
