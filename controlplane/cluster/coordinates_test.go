package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/vivaldi"
)

// TestStatusCarriesCoordinateAndSummary: Status carries the server's
// coordinate and the region's summary when they are configured, and
// neither otherwise.
func TestStatusCarriesCoordinateAndSummary(t *testing.T) {
	a := bootstrapped(t, "a")
	st, err := a.cluster.Status(false)
	if err != nil || len(st.GetCoordinate()) != 0 || len(st.GetSummary()) != 0 {
		t.Fatalf("status without coordinates or summary: %v, %v", st, err)
	}

	est, err := vivaldi.New()
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := vivaldi.New()
	if err := est.Observe("peer", peer.Coordinate(), 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	a.cluster.cfg.Coordinates = est
	a.cluster.cfg.Summary = func() []byte { return []byte(`{"Nodes":3}`) }
	st, err = a.cluster.Status(false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := vivaldi.Decode(st.GetCoordinate())
	if err != nil || c == nil || fmt.Sprint(c) != fmt.Sprint(est.Coordinate()) {
		t.Fatalf("coordinate %+v, %v; want %+v", c, err, est.Coordinate())
	}
	if string(st.GetSummary()) != `{"Nodes":3}` {
		t.Fatalf("summary %q", st.GetSummary())
	}
}
