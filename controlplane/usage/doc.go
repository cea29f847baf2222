// Package usage answers usage questions from the replicated state: it turns
// a team's sandbox lifecycles (RUNNING → STOPPED) into billing intervals
// and lets the pure billing package add them up and price them.
//
// Metered records from the agents replace lifecycles as the source with the
// billing issue; the API stays. A Service is safe for concurrent use.
package usage
