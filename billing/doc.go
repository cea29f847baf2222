// Package billing turns usage into money. It is pure: plain values in
// (usage records, price plans, balance entries, limits), plain values out,
// with no I/O, no store, no clock and no package-level mutable state, so
// it is tested without a cluster and every function is safe for concurrent
// use. The control plane stores records and entries, calls this package
// and carries out its verdicts.
//
// # Usage
//
// Node agents meter each sandbox in records (structs.UsageRecord): an
// interval with the allocation (vCPUs, memory) and what was measured (CPU
// time, peak memory). Usage adds records up — Usage.Add, Sum — in exact
// integers: sandbox-milliseconds, vCPU-microseconds (a thousandth of a
// vCPU for a millisecond: 10^-6 vCPU-second), MiB-milliseconds
// (1/1,024,000 GiB-second), CPU-microseconds used, and used
// MiB-milliseconds estimated from each record's peak over its length.
// Converting a record rounds half up once: its length to the millisecond,
// vCPUs to the thousandth, CPU time to the microsecond, peak memory to the
// MiB. From there on nothing is rounded until money is, so adding records
// in any order or grouping gives the same totals. Quantity is the billable
// pair (vCPU-µs, MiB-ms); Usage has float accessors in seconds for
// reports.
//
// # Plans and units
//
// A Plan prices a vCPU-second and a GiB-second in nanos, integer nano-units
// of currency (10^-9): E2B's $0.000014 per vCPU-second is 14000 nanos,
// $0.0000045 per GiB-second 4500 (DefaultPlan). ParsePrice reads "0.000014"
// into nanos. Charges and balances are in micros (10^-6, so 1 micro is 1000
// nanos; $1 is 1,000,000 micros). A plan may bill the larger of allocated
// and used per record (OnMaxOfUsed, Modal's rule; used vCPUs are
// CPUSeconds over the record's length, used memory its peak), give a free
// allowance per billing period, and bill a sandbox shorter than
// MinimumSecondsPerSandbox as if it had run that long. Plan.Validate refuses
// negative prices and prices over $1 per unit-second, negative or absurd
// allowances, a minimum over an hour, a missing ID or a currency that is not
// an ISO 4217 code, with an error wrapping ErrInvalidPlan that names the
// field: the API answers INVALID_ARGUMENT.
//
// # Rating and the rounding rule
//
// Rate rates a team's records into a Charge: each record bills its
// allocation (or max(allocated, used)); a sandbox whose Final record is
// rated is topped up to the minimum, once, at its final allocation; the
// free allowance left is taken first from the total; Plan.Price turns the
// rest into micros. RateRecord does the same for one record as it arrives,
// given the sandbox's time before it (for the minimum); a sandbox's
// costMicros is the Price of the sum of its records' Charged quantities
// at list price (no allowance).
//
// Money is rounded once per charge, half up, to a whole micro, and never
// anywhere else: Price computes the exact amount
// vCPU-µs × nanos/10^6 + MiB-ms × nanos/1,024,000 in 128-bit integers and
// rounds that. So rating records together equals pricing the sum of the
// Charged quantities of rating them one by one (the allowance threaded
// from one to the next), exactly; and the sum of per-record Micros differs
// from it by at most half a micro per record (tests TestRoundingRule and
// FuzzOneByOneEqualsTogether). To bill a period without drift, keep its
// Charged quantities and price their sum: a ledger that charges as records
// arrive posts, each time, the Price of the running total minus what it
// has posted so far, so its entries add up to the exact total rounded
// once.
//
// Every total is checked: a quantity or an amount that would not fit an
// int64 (a year of 10,000 sandboxes of 8 vCPUs and 16 GiB fits, at 2.5·10^18
// vCPU-µs; of 64 vCPUs it does not) is ErrOverflow, never a wrapped number.
// A record that ends before it starts or has a negative, NaN or absurd
// allocation or measure is ErrInvalidRecord.
//
// # Balances and the budget model
//
// A team spends from a balance: BalanceOf adds up its entries, grants and
// top-ups in, charges out (all in micros, never negative; the kind gives
// the direction). The balance may fall below zero, since usage is charged
// until running sandboxes are stopped.
//
// Limits are two floors under the balance: SoftMicros, a warning level
// (say $5), and HardMicros, usually 0 (prepaid; negative is a credit line).
// Evaluate(balance, limits) says, with a sentence for a person:
//
//   - OK: the balance is above SoftMicros;
//   - SOFT_LIMIT: at or under SoftMicros and above HardMicros: the caller
//     raises an event and shows the warning;
//   - EXHAUSTED: at or under HardMicros: new creates are refused with
//     RESOURCE_EXHAUSTED and running sandboxes are stopped with stopReason
//     BUDGET_EXHAUSTED (StopReasonBudgetExhausted) within 30 s
//     (StopWithin).
//
// A top-up moves the state back up. Evaluate is a pure function of the
// balance: the caller remembers the previous status and raises an event
// when it changes. SoftMicros == HardMicros means no warning;
// Limits.Validate refuses SoftMicros under HardMicros and absurd levels
// (ErrInvalidLimits, INVALID_ARGUMENT). Whether to enforce limits at all (a
// self-hosted platform may not bill) is the caller's choice.
//
// # Usage reports
//
// Summarize is the older, lifecycle-derived report: it clips sandbox
// Intervals (RUNNING → STOPPED) to a window and adds up sandbox-, vCPU-
// and GiB-seconds; Plan.Cost prices such a Report at list price
// (allocation, no allowance, no minimum). The API's usage query uses them
// until it reads metered records.
package billing
