// Package meter is the node agent's usage metering: it measures every
// running sandbox, closes what it measured into records
// (structs.UsageRecord) numbered without gaps per node, keeps them in a
// durable log on the agent's disk, and ships them to the control plane
// until it has them all, at least once each. The control plane ingests a
// node's records by (node id, sequence number), exactly once: it keeps a
// high-water mark per node and takes a record only if its number is the
// mark plus one, so a record sent twice, late or out of order is
// harmless, but a number used twice, or skipped, is not.
//
// # Pieces
//
//   - Sampler reads a sandbox's cumulative CPU time and its current and
//     peak memory; CgroupSampler does it over the sandbox's cgroup
//     (runc.Cgroup.Stats: cgroup v1 and v2).
//   - Meter: the agent calls Start when a sandbox starts running and Stop
//     when it stops. Run samples every sandbox every SampleEvery (1 s),
//     and closes a sandbox's open interval into a record every Interval
//     (10 s) and at Stop (that one Final). A record is closed only once
//     Log.Append has returned: before, it is still the open interval.
//   - Log: the records, numbered by Append, in a directory of its own
//     (an flock keeps a second process out).
//   - Shipper: every BatchInterval (5 s) it sends the unacknowledged
//     records in batches to a Sink (the control plane), which answers its
//     mark for the node; the Log is acknowledged up to that mark.
//
// Wiring, in the agent: OpenLog (it repairs what a crash left, see below)
// before Reconcile kills the sandboxes the previous process left; New and
// Run the Meter, NewShipper and Run the Shipper; Meter.Start after a
// sandbox started, Meter.Stop when it is stopped or found dead. At
// shutdown: end Run (it writes a last checkpoint), Shipper.Ship once,
// Log.Close.
//
// # A record
//
// A record covers [Start, End) of one sandbox: its allocation (VCPUs,
// MemoryMB) and what it used in the interval. CPUSeconds is the growth of
// the cgroup's CPU counter between the interval's first and last samples
// (a counter below the previous sample counts as reset, from zero: never
// negative). The CPU time between the last sample and the end of the
// interval goes to the next interval; the first interval's baseline is
// read at Start. PeakMemoryBytes is the highest memory seen in the
// interval: the largest current-memory sample, and the kernel's own peak
// (v1 memory.max_usage_in_bytes, v2 memory.peak where the kernel has it)
// when that peak moved since the previous sample — the kernel's peak is
// the sandbox's whole life's, so it counts only where it changed, and a
// spike between two samples is seen even if both samples are low. (A
// spike just before an interval's end may be seen by the next interval's
// first sample; where the kernel keeps no peak, spikes between samples are
// missed.)
//
// A sandbox's records abut: each starts where the previous ended. Their
// times are the agent's wall clock at the sandbox's Start plus the time
// elapsed on the monotonic clock, so a step of the wall clock neither
// stretches nor shrinks a record; clocks of different agents are not
// reconciled here (the control plane bounds and flags skew).
//
// # The log directory
//
//   - usage.log: one record a line, "<crc32c, 8 hex digits> <JSON>\n",
//     numbered seq, seq+1, … Append writes a batch of lines with one
//     write and fsyncs before it returns; only then are the lines visible
//     to Unacked.
//   - acked.json: the acknowledged mark. Ack writes it to a temporary
//     file, fsyncs it, renames it into place and fsyncs the directory;
//     only then may the records up to it go. When they take CompactBytes
//     (1 MiB), usage.log is rewritten without them the same way. The next
//     sequence number is the larger of the file's last and the mark, plus
//     one: an emptied file does not restart the numbering.
//   - open.json: the checkpoint. Every running sandbox's open interval
//     written as the Final record it would be if the sandbox died now,
//     with the log's last seq at that moment; replaced atomically by
//     Start (before it returns) and by Run every CheckpointEvery (1 s).
//
// OpenLog repairs, in this order: the first line that is not whole, not
// checksummed or not numbered after the previous one, and everything
// after it, is cut (Recovery.CutBytes); then every checkpointed interval
// is appended as a Final record (Recovery.Closed) — unless the log has a
// record of that sandbox numbered after the checkpoint's seq, which means
// the interval was closed after the checkpoint was taken (Recovery.Stale;
// compaction keeps such records until a newer checkpoint is durable).
// Then the checkpoint is emptied. A crash during any of these steps is
// repaired the same way on the next open.
//
// # What a crash loses
//
// Never a record Append returned for: it is fsynced, and acknowledged
// records are dropped only after the control plane's mark is durable.
// Never a sequence number used twice for different records that left the
// node: the shipper sends only fsynced records, and only records never
// fsynced (hence never sent) are cut and their numbers given again.
// Never a gap. Never a record twice in the ledger: resent batches are
// deduplicated by the control plane. What is lost:
//
//   - An agent crash (killed, panicked; the host up): the running
//     sandboxes' use after their last checkpoint. Their open intervals
//     become Final records ending at the checkpoint (at most
//     CheckpointEvery before the crash, plus up to one sample period of
//     CPU time not yet read); the sandboxes go on running until the
//     restarted agent's Reconcile kills them, unmetered. Appends whose
//     write had completed survive (the page cache outlives the process).
//     A sandbox whose Start had not yet checkpointed it (Start had not
//     returned) is not metered at all.
//   - A host crash or power loss: the same, and also the records being
//     appended but not yet fsynced (their Append never returned, nothing
//     shipped them); their time comes back from the checkpoint, up to its
//     time. A checkpoint or mark being replaced may revert to the previous
//     one: at most one more checkpoint period unmetered, or records sent
//     again.
//   - A lost or wiped log directory: everything not yet acknowledged, and
//     the numbering restarts at 1. The control plane's mark is then ahead
//     of the node's log; the Shipper reports ErrSinkAhead and acknowledges
//     nothing until an operator intervenes (a new node id, or a log
//     restored).
//   - Storage that acknowledges fsync without persisting, or corrupts
//     fsynced data: anything. OpenLog cuts the log at the first damaged
//     line; intact lines after one (Recovery.CutRecords > 0) are normal
//     only for the last, unsynced batch of a power loss, and otherwise
//     mean fsynced records were dropped and their numbers will be reused.
//
// Meter, Log and Shipper are safe for concurrent use.
package meter
