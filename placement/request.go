package placement

import (
	"fmt"
	"strings"

	"github.com/hashicorp/serf/coordinate"
)

// Resources is an amount of CPU, memory and disk.
type Resources struct {
	VCPUs    float64
	MemoryMB int
	DiskMB   int
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{VCPUs: r.VCPUs + o.VCPUs, MemoryMB: r.MemoryMB + o.MemoryMB, DiskMB: r.DiskMB + o.DiskMB}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{VCPUs: r.VCPUs - o.VCPUs, MemoryMB: r.MemoryMB - o.MemoryMB, DiskMB: r.DiskMB - o.DiskMB}
}

// Covers reports whether r has room for o in every dimension.
func (r Resources) Covers(o Resources) bool {
	return o.VCPUs <= r.VCPUs+1e-9 && o.MemoryMB <= r.MemoryMB && o.DiskMB <= r.DiskMB
}

// PoolKey names a warm pool: a template on a runtime.
type PoolKey struct {
	Template string
	Runtime  string
}

// MarshalText writes the key as "template/runtime", so that a Summary's
// Warm map travels as JSON.
func (k PoolKey) MarshalText() ([]byte, error) {
	return []byte(k.Template + "/" + k.Runtime), nil
}

// UnmarshalText reads "template/runtime".
func (k *PoolKey) UnmarshalText(b []byte) error {
	t, r, ok := strings.Cut(string(b), "/")
	if !ok {
		return fmt.Errorf("placement: pool key %q is not template/runtime", b)
	}
	k.Template, k.Runtime = t, r
	return nil
}

// Location is where the client is, most precise first: a client
// coordinate, else the preferred regions in order, else the region of
// the server the request came in through.
type Location struct {
	// Regions are the regions the client prefers, best first. With no
	// latency budget only these are considered; with one, other regions
	// within the budget are a fallback after them.
	Regions []string
	// Origin is the region of the server the request came in through.
	Origin string
	// Coord is the client's own network coordinate, when it has one.
	Coord *coordinate.Coordinate
}

// Request is one sandbox to place.
type Request struct {
	Team      string
	Template  string
	Runtime   string
	Resources Resources
	Labels    map[string]string // every one must match the node's
	Location  Location
	// MaxLatencyMs bounds the estimated client→region round trip; 0 means
	// no bound.
	MaxLatencyMs float64
	// Exclude lists nodes not to use: they refused a start of this
	// sandbox (capacity raced).
	Exclude []string
	// Seed makes the sampled start inside a region repeatable; callers
	// pass a random or hashed value.
	Seed uint64
}

func (r *Request) pool() PoolKey { return PoolKey{Template: r.Template, Runtime: r.Runtime} }
