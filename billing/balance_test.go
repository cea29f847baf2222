package billing

import (
	"errors"
	"math"
	"testing"
)

func TestBalanceOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Entry
		want    Balance
		err     error
	}{
		{"no entries", nil, Balance{}, nil},
		{"a grant", []Entry{{EntryGrant, 10_000_000}}, Balance{GrantedMicros: 10_000_000, Micros: 10_000_000}, nil},
		{"grant, top-up, charges", []Entry{
			{EntryGrant, 5_000_000}, {EntryCharge, 975}, {EntryTopUp, 20_000_000}, {EntryCharge, 1_000_000},
		}, Balance{GrantedMicros: 5_000_000, ToppedUpMicros: 20_000_000, ChargedMicros: 1_000_975, Micros: 23_999_025}, nil},
		{"charged past zero", []Entry{{EntryGrant, 100}, {EntryCharge, 130}},
			Balance{GrantedMicros: 100, ChargedMicros: 130, Micros: -30}, nil},
		{"a zero entry", []Entry{{EntryTopUp, 0}}, Balance{}, nil},
		{"negative amount", []Entry{{EntryGrant, 100}, {EntryCharge, -5}}, Balance{}, ErrInvalidEntry},
		{"unknown kind", []Entry{{"REFUND", 5}}, Balance{}, ErrInvalidEntry},
		{"no kind", []Entry{{"", 5}}, Balance{}, ErrInvalidEntry},
		{"top-ups overflow", []Entry{{EntryTopUp, math.MaxInt64}, {EntryTopUp, 1}}, Balance{}, ErrOverflow},
		{"grant plus top-up overflows", []Entry{{EntryGrant, math.MaxInt64}, {EntryTopUp, 1}}, Balance{}, ErrOverflow},
		{"charges at the limit", []Entry{{EntryCharge, math.MaxInt64}},
			Balance{ChargedMicros: math.MaxInt64, Micros: -math.MaxInt64}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BalanceOf(tc.entries)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("BalanceOf = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
