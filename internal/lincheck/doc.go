// Package lincheck records what clients saw of the sandbox API during a fault
// test and checks, with porcupine, that the history is linearizable.
//
// A Recorder collects three kinds of operation: createSandbox calls that
// returned an id, terminateSandbox calls (ok, NOT_FOUND, or an unknown
// outcome such as a timeout), and sandbox(id, consistency: LINEARIZABLE)
// reads that returned a state or NOT_FOUND. Each call is stamped with a
// strictly increasing monotonic clock when it starts and when it returns, so
// an operation that returned before another started is ordered before it.
//
// Check partitions the history by sandbox id and checks each id on its own
// against a small model: Absent, Running (CREATING or RUNNING), Stopping and
// Stopped (STOPPED, FAILED or LOST). A sandbox may stop without a client
// terminate (its lifetime ran out, its node died), so a read may see it
// stopped at any time after it ran, but never running again. A terminate
// whose outcome is unknown may or may not have happened, and may take effect
// at any time up to the end of the history. When the history is not
// linearizable, Check names the first sandbox whose operations cannot be
// ordered and can write porcupine's HTML visualisation of the history.
//
// A Recorder is safe for concurrent use.
package lincheck
