package nodes

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// TestLiveKeepsTheCoordinate: the agent's coordinate and round trip in a
// heartbeat are what Live returns (a copy), and they survive the JSON a
// heartbeat crosses the wire as; a beat without them has none.
func TestLiveKeepsTheCoordinate(t *testing.T) {
	_, tr, clk := setup(t)
	coord := &coordinate.Coordinate{Vec: []float64{0.001, -0.002, 0, 0, 0, 0, 0, 0.003}, Error: 0.1, Adjustment: -1e-4, Height: 2e-5}
	hb := Heartbeat{Node: describe("n1"), Coord: coord, RTT: 1500 * time.Microsecond}
	wire, err := json.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	var received Heartbeat
	if err := json.Unmarshal(wire, &received); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Heartbeat(context.Background(), received); err != nil {
		t.Fatal(err)
	}
	got, _, ok := tr.Live("n1")
	if !ok || !reflect.DeepEqual(got.Coord, coord) || got.RTT != hb.RTT {
		t.Fatalf("Live: coordinate %+v, round trip %v; want %+v, %v", got.Coord, got.RTT, coord, hb.RTT)
	}
	got.Coord.Vec[0] = 42
	if again, _, _ := tr.Live("n1"); again.Coord.Vec[0] != coord.Vec[0] {
		t.Fatal("Live shares the tracker's coordinate")
	}

	clk.Advance(time.Second)
	beat(t, tr, "n1")
	if got, _, _ := tr.Live("n1"); got.Coord != nil || got.RTT != 0 {
		t.Fatalf("a beat without a coordinate: %+v, %v", got.Coord, got.RTT)
	}
}
