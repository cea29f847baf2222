// Package reaper collects every child that exits in envd's process, which is
// PID 1 of the sandbox: orphans re-parented to it are reaped and discarded,
// and children started through Reaper.Start get their wait status and
// resource usage delivered on a channel.
//
// The reaper owns wait4 for the whole process: nothing else in envd may call
// wait (os/exec, os.Process.Wait) or it would race with the reaper for the
// exit status. A Reaper is safe for concurrent use.
package reaper
