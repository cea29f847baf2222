// Package nomadtest is a fake HashiCorp Nomad for tests: an httptest
// server that answers the part of Nomad's HTTP API codeint uses, with the
// shapes Nomad sends (recorded in testdata, which is embedded, so the fake
// works from any package's tests and any working directory), so that the
// official github.com/hashicorp/nomad/api client — and so package
// controlplane/nomad and `codeint server --nomad-addr` — works against it
// unchanged.
//
// Implemented endpoints:
//
//	GET  /v1/nodes               the NodeListStub of every node
//	GET  /v1/node/{id}           the full node (404 when unknown)
//	GET  /v1/event/stream        ?index, ?topic= repeated: ndjson frames
//	GET  /v1/job/{job}/scale     testdata's scale status with the fake's count
//	PUT  /v1/job/{job}/scale     (and POST) checks and records a scale write
//
// Every request must carry the region the fake was made for (?region=,
// "" when the client names none): a request for another region fails the
// test and is answered 500 "No path to region", as by Nomad. Every request
// is recorded (Requests, RequestsTo).
//
// The fake holds nodes as Nomad's JSON (maps, as GET /v1/node/{id} returns
// them), loaded from testdata files (New, AddNode) and changed by
// NodeChange functions (Drain, Undrain, SetEligibility, SetStatus,
// SetMeta, SetName, SetID). Nomad's raft index starts at the highest
// ModifyIndex of the nodes and is bumped by every change.
//
// A node changes in one of two ways:
//
//   - Update (and DrainNode, UndrainNode, SetNodeEligibility,
//     SetNodeStatus, Deregister, and AddNode) changes it and publishes the
//     event frame Nomad streams for the change, as Nomad does: to every
//     open stream whose topics take it, and to every stream opened later
//     from an index at or below the event's (Nomad's event buffer). This
//     is what a test of real processes uses: it does not need to know when
//     the code under test opens its stream.
//   - Change (and Remove) changes it and returns the frame without sending
//     it, for tests that decide what each stream carries: they take the
//     streams in order with NextStream and Send frames (or Heartbeat, or
//     Break the connection) themselves.
//
// OnNextList, FailLists and RefuseStreams inject the races and failures
// of a real cluster. The scale endpoints work on one job (Job) with one
// task group (Group), whose count SetDesired sets; SetJobStopped,
// FailScaleStatus and FailScales change their answers, and Scales returns
// the writes received.
//
// A Server is safe for concurrent use and shuts down with the test that
// made it; its open streams end then.
package nomadtest
