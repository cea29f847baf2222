package lincheck

import (
	"slices"
	"testing"
)

func TestStep(t *testing.T) {
	create := input{kind: opCreate, id: "sb"}
	term := input{kind: opTerminate, id: "sb"}
	read := input{kind: opRead, id: "sb"}
	tests := []struct {
		name string
		from state
		in   input
		out  output
		want []state
	}{
		{"create from absent", absent, create, output{}, []state{running}},
		{"create twice", running, create, output{}, nil},
		{"create after stop", stopped, create, output{}, nil},

		{"terminate ok running", running, term, output{outcome: OK}, []state{stopped}},
		{"terminate ok stopping", stopping, term, output{outcome: OK}, []state{stopped}},
		{"terminate ok stopped", stopped, term, output{outcome: OK}, []state{stopped}},
		{"terminate ok absent", absent, term, output{outcome: OK}, nil},
		{"terminate not found absent", absent, term, output{outcome: NotFound}, []state{absent}},
		{"terminate not found running", running, term, output{outcome: NotFound}, nil},
		{"terminate unknown running", running, term, output{outcome: Unknown}, []state{running, stopped}},
		{"terminate unknown stopping", stopping, term, output{outcome: Unknown}, []state{stopping, stopped}},
		{"terminate unknown stopped", stopped, term, output{outcome: Unknown}, []state{stopped}},
		{"terminate unknown absent", absent, term, output{outcome: Unknown}, []state{absent}},
		{"terminate zero outcome", running, term, output{}, nil},

		{"read not found absent", absent, read, output{state: "NOT_FOUND"}, []state{absent}},
		{"read not found running", running, read, output{state: "NOT_FOUND"}, nil},
		{"read creating running", running, read, output{state: "CREATING"}, []state{running}},
		{"read running running", running, read, output{state: "RUNNING"}, []state{running}},
		{"read running absent", absent, read, output{state: "RUNNING"}, nil},
		{"read running stopping", stopping, read, output{state: "RUNNING"}, nil},
		{"read running stopped", stopped, read, output{state: "RUNNING"}, nil},
		{"read stopping running", running, read, output{state: "STOPPING"}, []state{stopping}},
		{"read stopping stopping", stopping, read, output{state: "STOPPING"}, []state{stopping}},
		{"read stopping stopped", stopped, read, output{state: "STOPPING"}, nil},
		{"read stopped running", running, read, output{state: "STOPPED"}, []state{stopped}},
		{"read lost running", running, read, output{state: "LOST"}, []state{stopped}},
		{"read failed stopping", stopping, read, output{state: "FAILED"}, []state{stopped}},
		{"read stopped stopped", stopped, read, output{state: "STOPPED"}, []state{stopped}},
		{"read stopped absent", absent, read, output{state: "STOPPED"}, nil},
		{"read unknown string", running, read, output{state: "PAUSED"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := step(tt.from, tt.in, tt.out)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("step(%v, %s) = %v, want %v", tt.from, describe(tt.in, tt.out), got, tt.want)
			}
		})
	}
}
