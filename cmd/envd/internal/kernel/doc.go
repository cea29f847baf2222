// Package kernel runs code-interpreter contexts: long-lived Python or
// JavaScript (or TypeScript) interpreters that keep variables, imports and
// the working directory between cells, like a Jupyter kernel but with
// nothing more than python3 or node installed.
//
// Each interpreter runs a small driver, embedded in envd
// (python_driver.py, node_driver.js) and passed on the command line
// (`python3 -u -c DRIVER`, `node -e DRIVER -- LANGUAGE [TYPESCRIPT_DIR]`),
// so the interpreter's user needs to read nothing of envd's. The driver
// talks to envd over pipes given as its file descriptors:
//
//	fd 0  stdin: empty (a cell's stdin is the request's, in memory)
//	fd 1  stdout, fd 2 stderr: what cells (and their child processes) print;
//	      the Python driver line-buffers sys.stdout and sys.stderr and
//	      flushes them before every event, so a print is one write
//	fd 3  requests, envd → driver: one JSON line per cell
//	      {"code": …, "stdin": …, "env": {…}}
//	fd 4  events, driver → envd: JSON lines
//	      {"ev": "ready", "version": …}            once, when started
//	      {"ev": "started"}                        the cell's code begins
//	      {"ev": "display", "data": [{"type", "data"}…]}  a rich result
//	      {"ev": "done", "error": null | {"name", "value", "traceback"}}
//	fd 5  acks, envd → driver: one byte per display event forwarded
//
// SIGINT interrupts the running cell (KeyboardInterrupt); the driver
// ignores it while idle. Kernel.Interrupt holds an interrupt asked for
// between the request and the "started" event back until that event, so
// that it does not reach a driver still idle.
//
// envd reads fds 1, 2 and 4 in one goroutine (unix.Poll), and before it
// handles an event it drains whatever fds 1 and 2 hold: output written
// before an event reaches the client before it. The driver waits for the
// ack of each display event before the cell goes on, so output written
// after a display cannot overtake it either; the end of a cell needs no
// ack, as the driver is idle after it.
//
// Python cells: the last statement, when it is an expression, is
// evaluated and its value (when not None) shown as text/plain (repr) and
// whatever richer types the object offers (_repr_html_, _repr_png_, …,
// _repr_mimebundle_), and kept as _. display(*objs) shows objects at once.
// matplotlib runs with the Agg backend; plt.show() shows the open figures
// as image/png, and figures still open at the end of a cell are shown
// then; matplotlib is patched only when a cell imports pyplot. Errors come
// back structured, their traceback without the driver's frames, the cell
// named <cell-N>; SystemExit is such an error, not the interpreter's end.
// A trailing ';' hides the value, as in IPython. Top-level await works (an
// asyncio loop of the driver's). A process a cell forks (os.fork) ends
// with the cell.
//
// JavaScript cells run with vm.runInThisContext, so top-level var, let,
// const and function declarations persist (re-declaring a let or const in
// a later cell is a SyntaxError, as in node's REPL of old); a trailing
// Promise is awaited; require resolves from the current directory.
// Top-level await is not supported, nor a cell's stdin (JavaScript cells
// read an empty one). TypeScript cells are transpiled one by one with the
// typescript package (no type checking).
//
// What the interpreter prints between cells (a thread, a timer's callback)
// is dropped: output belongs to the cell that runs.
//
// The package does not signal or kill the interpreter itself: its caller
// started it (StartFunc) and owns it.
package kernel
