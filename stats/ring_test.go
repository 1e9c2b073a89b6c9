package stats

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRing_NewestFirst(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		pushes int
		want   []int64
	}{
		{name: "empty", size: 3, pushes: 0, want: []int64{}},
		{name: "partly filled", size: 3, pushes: 2, want: []int64{2, 1}},
		{name: "exactly full", size: 3, pushes: 3, want: []int64{3, 2, 1}},
		{name: "wrapped", size: 3, pushes: 7, want: []int64{7, 6, 5}},
		{name: "size one", size: 1, pushes: 4, want: []int64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.size)
			for i := 1; i <= tt.pushes; i++ {
				r.push(&Event{ID: int64(i)})
			}
			got := r.newestFirst()
			assert.NotNil(t, got)
			ids := []int64{}
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			assert.Equal(t, tt.want, ids)
		})
	}
}

func TestRing_NewestFirst_copies(t *testing.T) {
	r := newRing(2)
	r.push(&Event{ID: 1, Model: "a"})
	got := r.newestFirst()
	got[0].Model = "changed"
	assert.Equal(t, "a", r.newestFirst()[0].Model, "callers get copies")
}
