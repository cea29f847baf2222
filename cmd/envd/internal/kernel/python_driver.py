# envd's Python context driver (package kernel). It runs as
# `python3 -u -c <this source>` (sys.stdout and sys.stderr are then made
# line-buffered, flushed before every event and at the end of a cell, so
# a print is one write): requests arrive as JSON lines on fd 3,
# events leave as JSON lines on fd 4, and fd 5 carries one byte per
# display event that envd has forwarded (the driver waits for it, so the
# output printed before a display reaches the client before it). Cells
# print to fds 1 and 2 as any program does.
import sys

# The cwd ('' on sys.path) may hold the user's json.py: import the driver's
# modules without it.
_cwd_entry = sys.path.pop(0) if sys.path and sys.path[0] == '' else None

import ast
import base64
import builtins
import importlib.abc
import io
import json
import linecache
import os
import signal
import threading
import traceback
import types
import warnings

if _cwd_entry is not None:
    sys.path.insert(0, _cwd_entry)

REQ_FD, EVENT_FD, ACK_FD = 3, 4, 5
# Display data above this is replaced by a note: a frame carries 16 MiB.
MAX_DISPLAY = 15 << 20
# Error fields are clipped to this many characters.
MAX_ERROR_FIELD = 64 << 10
# Python's compile flag for top-level await (ast.PyCF_ALLOW_TOP_LEVEL_AWAIT).
TOP_LEVEL_AWAIT = getattr(ast, 'PyCF_ALLOW_TOP_LEVEL_AWAIT', 0)
CO_COROUTINE = 0x80

DRIVER_PID = os.getpid()
DRIVER_GLOBALS = globals()
DRIVER_MODULE = sys.modules['__main__']  # kept: cells get a __main__ of their own


class State:
    """What the driver keeps between cells."""

    def __init__(self):
        self.running = False  # a cell runs: SIGINT raises KeyboardInterrupt
        self.cell = 0
        self.unacked = 0  # display events whose ack has not been read
        self.lock = threading.Lock()  # one event write (and ack wait) at a time
        self.loop = None  # asyncio loop for top-level await, made on first use
        self.pyplot_patched = False


STATE = State()


def emit(event, wait_ack=False):
    """Writes one event line on fd 4, with SIGINT blocked so that a line is
    never cut; with wait_ack, waits for envd's ack of it (and of any earlier
    one whose wait an interrupt cut short)."""
    if os.getpid() != DRIVER_PID:
        return  # a process a cell forked: only the driver talks to envd
    line = (json.dumps(event) + '\n').encode()
    flush_std()  # what the cell printed before the event travels before it
    with STATE.lock:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            view = memoryview(line)
            while view:
                n = os.write(EVENT_FD, view)
                view = view[n:]
            if wait_ack:
                STATE.unacked += 1
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if wait_ack:
            while STATE.unacked > 0:
                got = os.read(ACK_FD, STATE.unacked)
                if not got:
                    os._exit(0)  # envd is gone
                STATE.unacked -= len(got)


def flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def line_buffered(fd):
    """A text stream on fd that writes whole lines (and on flush): one
    write, so one chunk, per print rather than one per piece of it."""
    return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, 'w', closefd=False)),
                            encoding='utf-8', errors='backslashreplace', line_buffering=True)


def clip(text, limit=MAX_ERROR_FIELD):
    if len(text) > limit:
        return text[:limit] + '\n[... %d more characters]' % (len(text) - limit)
    return text


# --- rich display -------------------------------------------------------

REPR_METHODS = (
    ('_repr_html_', 'text/html'),
    ('_repr_markdown_', 'text/markdown'),
    ('_repr_svg_', 'image/svg+xml'),
    ('_repr_png_', 'image/png'),
    ('_repr_jpeg_', 'image/jpeg'),
    ('_repr_latex_', 'text/latex'),
    ('_repr_json_', 'application/json'),
)
BINARY_TYPES = ('image/png', 'image/jpeg')


def encode_data(mime, value):
    """Turns what a _repr_*_ method returned into DisplayData text."""
    if isinstance(value, tuple) and len(value) == 2:  # (data, metadata)
        value = value[0]
    if mime in BINARY_TYPES:
        if isinstance(value, str):  # already base64
            return value
        return base64.b64encode(bytes(value)).decode('ascii')
    if mime == 'application/json':
        return value if isinstance(value, str) else json.dumps(value)
    return value if isinstance(value, str) else str(value)


def is_figure(obj):
    cls = type(obj)
    return cls.__module__.startswith('matplotlib.') and cls.__name__ == 'Figure' and hasattr(obj, 'savefig')


def figure_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format='png', bbox_inches='tight')
    return base64.b64encode(buf.getvalue()).decode('ascii')


def bundle(obj):
    """The DisplayData list of obj: text/plain first, then what the object
    offers (IPython's _repr_*_ protocol, _repr_mimebundle_)."""
    items = [('text/plain', repr(obj))]
    if isinstance(obj, type):  # a class: its _repr_*_ are unbound methods
        return items
    if is_figure(obj):
        items.append(('image/png', figure_png(obj)))
        close_figure(obj)
        return items
    seen = {'text/plain'}
    method = getattr(obj, '_repr_mimebundle_', None)
    if callable(method):
        data = method()
        if isinstance(data, tuple):
            data = data[0]
        if isinstance(data, dict):
            for mime, value in data.items():
                if mime == 'text/plain' and isinstance(value, str):
                    items[0] = ('text/plain', value)
                elif mime not in seen and value is not None:
                    items.append((mime, encode_data(mime, value)))
                seen.add(mime)
    for name, mime in REPR_METHODS:
        method = getattr(obj, name, None)
        if mime in seen or not callable(method):
            continue
        value = method()
        if value is not None:
            items.append((mime, encode_data(mime, value)))
            seen.add(mime)
    return items


def send_display(items):
    data = []
    for mime, text in items:
        if len(text) > MAX_DISPLAY:
            mime, text = 'text/plain', '[%s display data of %d bytes omitted: too large]' % (mime, len(text))
        data.append({'type': mime, 'data': text})
    emit({'ev': 'display', 'data': data}, wait_ack=True)


def display(*objs):
    """Shows each object as a cell's trailing expression would, at once."""
    for obj in objs:
        send_display(bundle(obj))


# --- matplotlib -----------------------------------------------------------

def close_figure(fig):
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is not None:
        plt.close(fig)


def flush_figures():
    """Shows every open pyplot figure as image/png, then closes them."""
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None:
        return
    for num in list(plt.get_fignums()):
        fig = plt.figure(num)
        send_display([('image/png', figure_png(fig))])
        plt.close(fig)


def patch_pyplot(plt):
    def show(*args, **kwargs):
        flush_figures()
    show.__doc__ = plt.show.__doc__
    plt.show = show
    STATE.pyplot_patched = True


class PyplotHook(importlib.abc.MetaPathFinder):
    """Patches matplotlib.pyplot.show when (and only when) a cell imports
    pyplot: matplotlib is never imported by the driver itself."""

    def find_spec(self, name, path, target=None):
        if name != 'matplotlib.pyplot':
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, 'exec_module', None)
        if exec_module is None:
            return spec

        def patched(module):
            exec_module(module)
            patch_pyplot(module)
        loader.exec_module = patched  # the loader is this spec's own instance
        return spec


# --- cells ----------------------------------------------------------------

def on_sigint(signum, frame):
    if STATE.running:
        raise KeyboardInterrupt


def format_error(exc):
    """The error event of exc: its traceback leaves out the driver's own
    frames (those running the cell, the SIGINT handler)."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals is not DRIVER_GLOBALS:
            frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, None, compact=True)
    te.stack = traceback.StackSummary.extract(iter(frames))
    text = ''.join(te.format())
    value = str(exc)
    if isinstance(exc, SystemExit):
        value = '' if exc.code is None else str(exc.code)
    return {'name': type(exc).__name__, 'value': clip(value), 'traceback': clip(text)}


def run_code(src, filename, ns):
    """Runs a cell: the trailing expression's value is shown and kept as _."""
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    flags = TOP_LEVEL_AWAIT
    try:
        tree = ast.parse(src, filename, 'exec')
        last = None
        # As in IPython, a trailing ';' hides the value.
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not src.rstrip().endswith(';'):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, filename, 'exec', flags, dont_inherit=True) if tree.body else None
        tail = compile(last, filename, 'eval', flags, dont_inherit=True) if last is not None else None
    except SyntaxError as exc:
        raise exc.with_traceback(None)  # the frames are the compiler's, not the cell's
    if body is not None:
        run_compiled(body, ns)
    if tail is not None:
        value = run_compiled(tail, ns)
        if value is not None:
            ns['_'] = value
            send_display(bundle(value))


def run_compiled(code, ns):
    if code.co_flags & CO_COROUTINE:
        if STATE.loop is None:
            import asyncio
            STATE.loop = asyncio.new_event_loop()
        return STATE.loop.run_until_complete(eval(code, ns))
    return eval(code, ns)


def run_cell(req, ns):
    STATE.cell += 1
    filename = '<cell-%d>' % STATE.cell
    saved_env = {k: os.environ.get(k) for k in req.get('env') or {}}
    stdin = sys.stdin
    error = None
    try:
        try:
            for k, v in (req.get('env') or {}).items():
                os.environ[k] = v
            sys.stdin = io.StringIO(req.get('stdin') or '')
            STATE.running = True
            emit({'ev': 'started'})  # from now on SIGINT interrupts the cell
            run_code(req.get('code') or '', filename, ns)
            flush_figures()
        finally:
            STATE.running = False
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the context stays
        STATE.running = False
        if os.getpid() != DRIVER_PID:  # a child the cell forked, ending with an error
            traceback.print_exception(exc)
            os._exit(1)
        error = format_error(exc)
        try:
            flush_figures()
        except BaseException:
            pass
    if os.getpid() != DRIVER_PID:
        os._exit(0)  # a child the cell forked, at the end of the cell: it must not read requests
    sys.stdin = stdin
    for k, v in saved_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    emit({'ev': 'done', 'error': error})


def main():
    for fd in (REQ_FD, EVENT_FD, ACK_FD):
        os.set_inheritable(fd, False)
    os.environ['MPLBACKEND'] = 'Agg'
    warnings.filterwarnings('ignore', message='.*non-GUI backend.*')
    warnings.filterwarnings('ignore', message='.*is non-interactive, and thus cannot be shown.*')
    signal.signal(signal.SIGINT, on_sigint)
    sys.stdout, sys.stderr = line_buffered(1), line_buffered(2)
    sys.meta_path.insert(0, PyplotHook())
    builtins.display = display
    main_module = types.ModuleType('__main__')
    main_module.__builtins__ = builtins
    sys.modules['__main__'] = main_module  # pickle finds the cells' classes there
    sys.argv = ['']
    ns = main_module.__dict__
    requests = io.open(REQ_FD, 'rb', closefd=False)
    emit({'ev': 'ready', 'version': sys.version.split()[0]})
    while True:
        line = requests.readline()
        if not line:
            return  # envd closed the requests: it is gone
        if not line.strip():
            continue
        run_cell(json.loads(line), ns)


main()
