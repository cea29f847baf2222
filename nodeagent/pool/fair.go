package pool

// demand is what one pool asks of the memory budget.
type demand struct {
	want  int // slots
	memMB int // per slot, > 0
}

// fairShare turns the pools' wants into targets whose memory sums to at
// most budgetMB. It shares max-min fairly in megabytes (water-filling):
// every pool is offered an equal share of what is left; a pool that wants
// less than its share gets all it wants and the rest is offered again to
// the others, until no pool fits in its share. Those are capped at
// floor(share / memMB) slots. What rounding leaves is handed out one slot
// at a time to the unsatisfied pool holding the least memory.
//
// So every pool ends with its want or at least the water level (the equal
// share of what the satisfied pools leave) less one slot of rounding: a
// growing pool takes memory first from what nobody uses, then from the
// pools holding more than the level, and a pool wanting less than the
// level is never shrunk by a burst elsewhere. Ties go to the earlier pool
// in d, which the caller orders by Key.
func fairShare(d []demand, budgetMB int) []int {
	t := make([]int, len(d))
	left := budgetMB
	active := make([]int, 0, len(d))
	for i := range d {
		if d[i].want > 0 {
			active = append(active, i)
		}
	}
	for len(active) > 0 {
		share := left / len(active)
		next := active[:0]
		for _, i := range active {
			if need := d[i].want * d[i].memMB; need <= share {
				t[i] = d[i].want
				left -= need
			} else {
				next = append(next, i)
			}
		}
		if len(next) == len(active) { // nobody fits: cap them all at the share
			for _, i := range active {
				t[i] = share / d[i].memMB
				left -= t[i] * d[i].memMB
			}
			break
		}
		active = next
	}
	for {
		best := -1
		for i := range d {
			if t[i] < d[i].want && d[i].memMB <= left &&
				(best < 0 || t[i]*d[i].memMB < t[best]*d[best].memMB) {
				best = i
			}
		}
		if best < 0 {
			return t
		}
		t[best]++
		left -= d[best].memMB
	}
}
