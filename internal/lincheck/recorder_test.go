package lincheck

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRecorderOrdersSequentialOps(t *testing.T) {
	r := NewRecorder()
	for i := range 100 {
		read(r, i%3, "sb-1", "NOT_FOUND")
	}
	h := r.history()
	for i := 1; i < len(h); i++ {
		if h[i-1].Call >= h[i-1].Return || h[i-1].Return >= h[i].Call {
			t.Fatalf("ops %d and %d not strictly ordered: [%d, %d] then [%d, %d]",
				i-1, i, h[i-1].Call, h[i-1].Return, h[i].Call, h[i].Return)
		}
	}
}

func TestRecorderUnknownOutcomeReturnsAtEnd(t *testing.T) {
	r := NewRecorder()
	create(r, 0, "sb-1")
	terminate(r, 0, "sb-1", Unknown)
	read(r, 1, "sb-1", "RUNNING")
	pending := r.Read(2, "sb-1") // started, not yet returned
	h := r.history()
	pending("RUNNING", nil)

	var unknown, latest int64
	for _, op := range h {
		if op.Output.(output).outcome == Unknown {
			unknown = op.Return
			continue
		}
		latest = max(latest, op.Return)
	}
	if unknown <= latest {
		t.Fatalf("unknown terminate returns at %d, before another op returned at %d", unknown, latest)
	}
	if r.Len() != 4 {
		t.Fatalf("Len = %d, want 4", r.Len())
	}
}

// fakeAPI is a linearizable sandbox API: every call takes effect under one
// lock, inside the interval the Recorder stamps around it. stale makes reads
// return the state a sandbox was created with, whatever happened since.
type fakeAPI struct {
	mu      sync.Mutex
	next    int
	states  map[string]string
	created map[string]string
	stale   bool
}

func newFakeAPI(stale bool) *fakeAPI {
	return &fakeAPI{states: map[string]string{}, created: map[string]string{}, stale: stale}
}

func (f *fakeAPI) create(rng *rand.Rand) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rng.IntN(10) == 0 {
		return "", errors.New("quota exceeded")
	}
	f.next++
	id := fmt.Sprintf("sb-%d", f.next)
	st := []string{"CREATING", "RUNNING"}[rng.IntN(2)]
	f.states[id], f.created[id] = st, st
	return id, nil
}

func (f *fakeAPI) terminate(rng *rand.Rand, id string) Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.states[id]
	lost := rng.IntN(5) == 0 // the reply is lost: the client cannot tell
	switch {
	case !ok && lost:
		return Unknown
	case !ok:
		return NotFound
	case lost && rng.IntN(2) == 0:
		return Unknown // and it did not happen
	}
	f.states[id] = "STOPPED"
	if lost {
		return Unknown
	}
	return OK
}

func (f *fakeAPI) read(rng *rand.Rand, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[id]
	switch {
	case rng.IntN(10) == 0:
		return "", errors.New("unavailable")
	case !ok:
		return "NOT_FOUND", nil
	case f.stale:
		return f.created[id], nil
	case st != "STOPPED" && rng.IntN(20) == 0:
		f.states[id] = "LOST" // its node died
		return "LOST", nil
	}
	return st, nil
}

// storm runs 8 clients issuing random creates, terminates and reads against
// api, recorded by r, and returns how many operations should be recorded.
func storm(t *testing.T, r *Recorder, api *fakeAPI) int64 {
	t.Helper()
	const clients, opsEach = 8, 150
	var (
		recorded atomic.Int64
		idsMu    sync.Mutex
		ids      = []string{"sb-never"} // named but never created
		wg       sync.WaitGroup
	)
	pick := func(rng *rand.Rand) string {
		idsMu.Lock()
		defer idsMu.Unlock()
		return ids[rng.IntN(len(ids))]
	}
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, uint64(c)))
			for range opsEach {
				switch n := rng.IntN(10); {
				case n < 2:
					done := r.Create(c)
					id, err := api.create(rng)
					done(id, err)
					if err == nil {
						recorded.Add(1)
						idsMu.Lock()
						ids = append(ids, id)
						idsMu.Unlock()
					}
				case n < 4:
					id := pick(rng)
					done := r.Terminate(c, id)
					done(api.terminate(rng, id))
					recorded.Add(1)
				default:
					id := pick(rng)
					done := r.Read(c, id)
					st, err := api.read(rng, id)
					done(st, err)
					if err == nil {
						recorded.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	return recorded.Load()
}

func TestRecorderConcurrentClients(t *testing.T) {
	r := NewRecorder()
	api := newFakeAPI(false)
	want := storm(t, r, api)
	if got := int64(r.Len()); got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	res := mustLinearize(t, r)
	if int64(res.Ops) != want {
		t.Fatalf("Check saw %d ops, want %d", res.Ops, want)
	}
	if res.Partitions < api.next || res.Partitions > api.next+1 {
		t.Fatalf("Check saw %d partitions, want %d created ids (+1 if sb-never was touched)", res.Partitions, api.next)
	}
}

func TestRecorderConcurrentClientsStaleReads(t *testing.T) {
	r := NewRecorder()
	storm(t, r, newFakeAPI(true))
	res, err := r.Check(0, "")
	if !errors.Is(err, ErrNotLinearizable) || res.Linearizable {
		t.Fatalf("Check = %+v, %v; want ErrNotLinearizable for stale reads", res, err)
	}
}
