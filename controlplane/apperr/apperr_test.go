package apperr

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeAndIs(t *testing.T) {
	base := New(NotFound, "sandbox %q not found", "sb_1")
	wrapped := fmt.Errorf("get sandbox: %w", base)
	if got := CodeOf(wrapped); got != NotFound {
		t.Fatalf("CodeOf = %s, want NOT_FOUND", got)
	}
	if !errors.Is(wrapped, ErrNotFound) {
		t.Fatal("errors.Is(wrapped, ErrNotFound) = false")
	}
	if errors.Is(wrapped, ErrInvalidArgument) {
		t.Fatal("NOT_FOUND matched INVALID_ARGUMENT")
	}
	if got := CodeOf(errors.New("boom")); got != Internal {
		t.Fatalf("plain error code = %s, want INTERNAL", got)
	}
	if got := CodeOf(nil); got != "" {
		t.Fatalf("nil code = %q", got)
	}
	if wrapped.Error() != `get sandbox: sandbox "sb_1" not found` {
		t.Fatalf("message = %q", wrapped.Error())
	}
}
