package placement

import (
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// coordAt returns a coordinate at x ms along the first axis: the distance
// between two of them is the difference of their x, in ms.
func coordAt(x float64) *coordinate.Coordinate {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0] = (time.Duration(x * float64(time.Millisecond))).Seconds()
	c.Height = 0
	return c
}

func testNode(id, region string, allocMem int) Node {
	return Node{ID: id, Region: region, Ready: true, Templates: []string{"base"}, Runtimes: []string{"RUNC"},
		Capacity:  Resources{VCPUs: 4, MemoryMB: 4096, DiskMB: 10000},
		Allocated: Resources{MemoryMB: allocMem}}
}

func baseRequest() Request {
	return Request{Team: "t1", Template: "base", Runtime: "RUNC",
		Resources: Resources{VCPUs: 1, MemoryMB: 512, DiskMB: 512}}
}

// threeRegions are near (0 ms), mid (30 ms) and far (120 ms) from a
// client at 0, each with one empty node.
func threeRegions() []Region {
	return []Region{{Name: "near", Coord: coordAt(0)}, {Name: "mid", Coord: coordAt(30)}, {Name: "far", Coord: coordAt(120)}}
}
