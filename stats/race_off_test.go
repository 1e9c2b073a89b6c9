//go:build !race

package stats

// raceEnabled is true when the tests run with -race, which adds allocations.
const raceEnabled = false
