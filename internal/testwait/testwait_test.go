package testwait

import (
	"testing"
	"time"
)

func TestForAndContext(t *testing.T) {
	start := time.Now()
	n := 0
	For(t, time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("polled %d times in %v", n, time.Since(start))
	}
	ctx := Context(t, 50*time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("the context did not end after its timeout")
	}
}
