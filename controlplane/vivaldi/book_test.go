package vivaldi

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

func coord(vec []float64, height, adj, errv float64) *coordinate.Coordinate {
	return &coordinate.Coordinate{Vec: vec, Height: height, Adjustment: adj, Error: errv}
}

// TestBookMedian: a region's coordinate is the component-wise median of
// its servers' (the mean of the middle two for an even count); a
// server's newer coordinate replaces its older one, an older one does
// not.
func TestBookMedian(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b Book
	b.Put("eu", "a", coord([]float64{1, 10}, 0.1, -1, 0.5), now)
	b.Put("eu", "b", coord([]float64{3, 0}, 0.3, 5, 0.1), now)
	b.Put("eu", "c", coord([]float64{2, 100}, 0.2, 0, 0.9), now)
	b.Put("us", "d", coord([]float64{7, 7}, 0.7, 7, 0.7), now)
	got, ok := b.Region("eu", now)
	if want := coord([]float64{2, 10}, 0.2, 0, 0.5); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("median of three: %+v, %v; want %+v", got, ok, want)
	}

	b.Put("eu", "d", coord([]float64{4, 20}, 0.4, 1, 0.3), now)
	got, _ = b.Region("eu", now)
	if want := coord([]float64{2.5, 15}, 0.25, 0.5, 0.4); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("median of four: %+v, want %+v", got, want)
	}

	// c moves; an older report of c does not count.
	b.Put("eu", "c", coord([]float64{10, 30}, 0.2, 0, 0.9), now.Add(time.Second))
	b.Put("eu", "c", coord([]float64{-9, -900}, 0.9, 9, 0.9), now.Add(-time.Second))
	got, _ = b.Region("eu", now.Add(time.Second))
	if want := coord([]float64{3.5, 15}, 0.25, 0.5, 0.4); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after c moved: %+v, want %+v", got, want)
	}

	// Changing what Region returned or what was Put changes nothing.
	got.Vec[0] = 1000
	if again, _ := b.Region("eu", now.Add(time.Second)); again.Vec[0] != 3.5 {
		t.Fatalf("Region shares its result: %+v", again)
	}

	if c, ok := b.Region("ap", now); ok || c != nil {
		t.Fatalf("a region never heard of: %+v, %v", c, ok)
	}
	b.Put("ap", "x", nil, now)
	if _, ok := b.Region("ap", now); ok {
		t.Fatal("a nil coordinate was recorded")
	}
}

// TestBookStaleness: only coordinates heard within the freshness window
// count; a region none of whose servers was heard recently has none.
func TestBookStaleness(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := Book{Freshness: time.Minute}
	b.Put("eu", "old", coord([]float64{100, 100}, 1, 1, 1), now.Add(-2*time.Minute))
	b.Put("eu", "a", coord([]float64{1, 1}, 0.1, 0, 0.1), now.Add(-30*time.Second))
	b.Put("eu", "b", coord([]float64{3, 3}, 0.3, 0, 0.3), now)
	got, ok := b.Region("eu", now)
	if want := coord([]float64{2, 2}, 0.2, 0, 0.2); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("with a stale server: %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := b.Region("eu", now.Add(2*time.Minute)); ok {
		t.Fatal("a region heard of two minutes ago still has a coordinate")
	}

	var def Book // the default window
	def.Put("us", "a", coord([]float64{1}, 0.1, 0, 0.1), now)
	if _, ok := def.Region("us", now.Add(DefaultFreshness-time.Second)); !ok {
		t.Fatal("stale within the default window")
	}
	if _, ok := def.Region("us", now.Add(DefaultFreshness+time.Second)); ok {
		t.Fatal("fresh after the default window")
	}
}

// TestBookDimensions: coordinates of a dimensionality other than the
// newest one's are left out.
func TestBookDimensions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b Book
	b.Put("eu", "old", coord([]float64{5}, 0.5, 0, 0.5), now.Add(-time.Second))
	b.Put("eu", "new", coord([]float64{1, 2}, 0.1, 0, 0.1), now)
	got, ok := b.Region("eu", now)
	if want := coord([]float64{1, 2}, 0.1, 0, 0.1); !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("mixed dimensions: %+v, %v; want %+v", got, ok, want)
	}
}
