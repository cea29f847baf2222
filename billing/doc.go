// Package billing turns usage into money. It is pure: it takes plain usage
// values and price plans and returns plain values, with no I/O and no
// store, so it is tested without a cluster. Functions are safe for
// concurrent use.
//
// The walking skeleton derives usage from sandbox lifecycles (RUNNING →
// STOPPED): Summarize clips each interval to a report window and adds up
// sandbox-seconds, vCPU-seconds and GiB-seconds; Plan.Cost rates them in
// integer micro-units of currency. Metered interval records from the agents
// and the exactly-once ledger come with the billing issue.
package billing
