// envd's JavaScript (and TypeScript) context driver (package kernel). It
// runs as `node -e <this source> -- LANGUAGE [TYPESCRIPT_DIR]`: requests
// arrive as JSON lines on fd 3, events leave as JSON lines on fd 4, and
// fd 5 carries one byte per display event that envd has forwarded (the
// driver waits for it, so what was printed before a display reaches the
// client before it). Cells print to fds 1 and 2 as any program does; on
// Linux, console.log to a pipe is synchronous.
'use strict';
(() => {
  const fs = require('fs');
  const path = require('path');
  const util = require('util');
  const vm = require('vm');
  const Module = require('module');
  const net = require('net');

  const [language, tsDir] = process.argv.slice(1);
  const MAX_DISPLAY = 15 << 20;
  const MAX_ERROR_FIELD = 64 << 10;

  // Node marks inherited fds above 2 close-on-exec at startup: the
  // cells' child processes do not get these.
  const reqFd = 3;
  const eventFd = 4;
  const ackFd = 5;

  let running = false; // a cell runs
  let cell = 0;
  let unacked = 0; // display events whose ack has not been read
  let interruptCell = null; // rejects the awaited promise of the running cell

  const writeAll = (fd, buf) => {
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(fd, buf, off, buf.length - off);
      } catch (e) {
        if (e.code !== 'EAGAIN' && e.code !== 'EINTR') throw e;
      }
    }
  };

  // emit writes one event line; with waitAck it waits (blocking) for envd's
  // ack of it and of any earlier one left unread.
  const emit = (event, waitAck) => {
    writeAll(eventFd, Buffer.from(JSON.stringify(event) + '\n'));
    if (!waitAck) return;
    unacked++;
    const buf = Buffer.alloc(64);
    while (unacked > 0) {
      let n;
      try {
        n = fs.readSync(ackFd, buf, 0, Math.min(unacked, buf.length), null);
      } catch (e) {
        if (e.code === 'EAGAIN' || e.code === 'EINTR') continue;
        throw e;
      }
      if (n === 0) process.exit(0); // envd is gone
      unacked -= n;
    }
  };

  const clip = (text, limit = MAX_ERROR_FIELD) =>
    text.length > limit ? text.slice(0, limit) + `\n[... ${text.length - limit} more characters]` : text;

  const inspect = (v) => util.inspect(v, { depth: 4, maxArrayLength: 200, breakLength: 100 });

  // bundle is obj's display data: text/plain, and text/html when the
  // object offers _repr_html_.
  const bundle = (obj) => {
    const items = [{ type: 'text/plain', data: inspect(obj) }];
    if (obj !== null && (typeof obj === 'object' || typeof obj === 'function') && typeof obj._repr_html_ === 'function') {
      const html = obj._repr_html_();
      if (html != null) items.push({ type: 'text/html', data: String(html) });
    }
    return items.map((d) => d.data.length > MAX_DISPLAY
      ? { type: 'text/plain', data: `[${d.type} display data of ${d.data.length} characters omitted: too large]` }
      : d);
  };

  const sendDisplay = (obj) => emit({ ev: 'display', data: bundle(obj) }, true);

  globalThis.display = (...objs) => {
    for (const obj of objs) sendDisplay(obj);
  };

  // require resolves from the current working directory, as a script
  // there would.
  const cwdRequire = (id) => Module.createRequire(path.join(process.cwd(), '[cell]'))(id);
  cwdRequire.resolve = (id, opts) => Module.createRequire(path.join(process.cwd(), '[cell]')).resolve(id, opts);
  cwdRequire.cache = Module._cache;
  globalThis.require = cwdRequire;
  globalThis.module = { exports: {} };
  globalThis.exports = globalThis.module.exports;
  globalThis.__dirname = undefined;
  globalThis.__filename = undefined;

  let ts = null;
  if (language === 'TYPESCRIPT') ts = require(tsDir);

  // transpile turns a TypeScript cell into a script; syntax errors are
  // thrown as a SyntaxError.
  const transpile = (code, filename) => {
    const out = ts.transpileModule(code, {
      fileName: filename + '.ts',
      reportDiagnostics: true,
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, sourceMap: false },
    });
    const diags = (out.diagnostics || []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (diags.length > 0) {
      const msgs = diags.map((d) => {
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (!d.file || d.start === undefined) return text;
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        return `${filename}:${line + 1}:${character + 1}: ${text}`;
      });
      const err = new SyntaxError(msgs.join('\n'));
      err.stack = 'SyntaxError: ' + msgs.join('\n');
      throw err;
    }
    return out.outputText;
  };

  const isInterrupt = (e) => e && (e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED' || e === interruptedMarker);
  const interruptedMarker = new Error('interrupted');

  // errorOf describes what a cell threw; the driver's frames are left out
  // of the stack.
  const errorOf = (e) => {
    if (isInterrupt(e)) {
      return { name: 'KeyboardInterrupt', value: 'execution interrupted', traceback: '' };
    }
    if (e instanceof Error || (e && typeof e === 'object' && 'stack' in e)) {
      const stack = String(e.stack || '')
        .split('\n')
        .filter((l) => !(/^\s+at\s/.test(l) && /node:|\[eval\]/.test(l)))
        .join('\n');
      return { name: String(e.name || 'Error'), value: clip(String(e.message ?? '')), traceback: clip(stack) };
    }
    return { name: 'Error', value: clip(inspect(e)), traceback: clip('Uncaught ' + inspect(e)) };
  };

  const isThenable = (v) => v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';

  const runCell = async (req) => {
    cell++;
    const filename = `<cell-${cell}>`;
    const env = req.env || {};
    const saved = {};
    for (const k of Object.keys(env)) {
      saved[k] = Object.prototype.hasOwnProperty.call(process.env, k) ? process.env[k] : undefined;
      process.env[k] = env[k];
    }
    let error = null;
    try {
      let code = req.code || '';
      if (ts) code = transpile(code, filename);
      running = true;
      emit({ ev: 'started' }, false); // from now on SIGINT interrupts the cell
      let value = vm.runInThisContext(code, { filename, breakOnSigint: true, displayErrors: false });
      if (isThenable(value)) {
        value = await new Promise((resolve, reject) => {
          interruptCell = () => reject(interruptedMarker);
          value.then(resolve, reject);
        });
      }
      if (value !== undefined) {
        globalThis._ = value;
        sendDisplay(value);
      }
    } catch (e) {
      error = errorOf(e);
    } finally {
      running = false;
      interruptCell = null;
    }
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    emit({ ev: 'done', error }, false);
  };

  // SIGINT while a cell awaits a promise ends the cell; vm's breakOnSigint
  // handles it while the cell's code runs; idle, it does nothing.
  process.on('SIGINT', () => {
    if (running && interruptCell) interruptCell();
  });
  // What fails outside a cell (a timer's callback, a rejected promise
  // nobody awaited) is reported on stderr; the context stays.
  process.on('uncaughtException', (e) => {
    process.stderr.write('Uncaught ' + (e && e.stack ? e.stack : inspect(e)) + '\n');
  });
  process.on('unhandledRejection', (e) => {
    process.stderr.write('Unhandled rejection: ' + (e && e.stack ? e.stack : inspect(e)) + '\n');
  });

  // Cells run one at a time, in the order they arrive.
  const queue = [];
  let busy = false;
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const line = queue.shift();
      if (line.trim() === '') continue;
      let req;
      try {
        req = JSON.parse(line);
      } catch (e) {
        emit({ ev: 'done', error: { name: 'ProtocolError', value: 'bad request: ' + e.message, traceback: '' } }, false);
        continue;
      }
      await runCell(req);
    }
    busy = false;
  };

  const requests = new net.Socket({ fd: reqFd, readable: true, writable: false });
  let pending = '';
  requests.setEncoding('utf8');
  requests.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      queue.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    pump();
  });
  requests.on('end', () => process.exit(0)); // envd is gone
  requests.on('error', () => process.exit(0));

  emit({ ev: 'ready', version: process.versions.node }, false);
})();
