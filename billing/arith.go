package billing

import (
	"errors"
	"math"
	"math/bits"
)

// ErrOverflow is returned when a total would not fit the int64 it is kept
// in. It is never silently wrapped: a total either is exact or is an error.
var ErrOverflow = errors.New("billing: the amount is too large to count exactly")

// add returns a+b, or false when the sum does not fit an int64.
func add(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// mul returns a*b for a, b >= 0, or false when the product does not fit.
func mul(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// u128 is an unsigned 128-bit integer, enough to hold any quantity (< 2^63)
// times any valid price (< 2^30) times the scale factor (< 2^7), summed
// over the two resources, exactly.
type u128 struct{ hi, lo uint64 }

// mul3 returns a*b*c as a u128; callers keep the product below 2^128.
func mul3(a, b, c uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	// (hi·2^64 + lo)·c = hi·c·2^64 + lo·c
	lhi, llo := bits.Mul64(lo, c)
	return u128{hi: hi*c + lhi, lo: llo} // hi·c < 2^64 for our bounds
}

func (x u128) plus(y u128) u128 {
	lo, carry := bits.Add64(x.lo, y.lo, 0)
	hi, _ := bits.Add64(x.hi, y.hi, carry)
	return u128{hi: hi, lo: lo}
}

// divRoundHalfUp returns x/d rounded half up (x + d/2, then floor), or
// false when the quotient does not fit an int64. d is even and > 0.
func (x u128) divRoundHalfUp(d uint64) (int64, bool) {
	x = x.plus(u128{lo: d / 2})
	if x.hi >= d {
		return 0, false // quotient ≥ 2^64
	}
	q, _ := bits.Div64(x.hi, x.lo, d)
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}
