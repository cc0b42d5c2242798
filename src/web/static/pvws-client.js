// A pvws web socket client for the browser (an ES module, no build step): connects, reconnects,
// subscribes on behalf of any number of watchers per PV, merges each PV's updates into its full
// value (metadata arrive once, then deltas) and decodes base64 arrays, as pvws's own pvws.js does.
// Adds pvtree's answered writes and command calls (messages with an `id`).

const ARRAYS = {
  b64dbl: Float64Array,
  b64flt: Float32Array,
  b64int: Int32Array,
  b64srt: Int16Array,
  b64byt: Uint8Array,
};

/** Decodes a pvws base64 little-endian array field into a typed array. */
export function decodeArray(field, text) {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new ARRAYS[field](bytes.buffer);
}

export class PvwsClient {
  /**
   * @param {string} url ws://host:port/pvws/pv
   * @param {{ onState?: (connected: boolean) => void, onError?: (msg: object) => void }} handlers
   */
  constructor(url, handlers = {}) {
    this.url = url;
    this.handlers = handlers;
    /** name → merged value (pvws.js's `values`) */
    this.values = new Map();
    /** name → Set of watcher callbacks */
    this.watchers = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.connected = false;
    this.socket = undefined;
    this.retryMs = 500;
    this.closedByUser = false;
  }

  open() {
    this.closedByUser = false;
    const ws = new WebSocket(this.url);
    this.socket = ws;
    ws.onopen = () => {
      this.connected = true;
      this.retryMs = 500;
      this.values.clear(); // the server sends full metadata again
      const names = [...this.watchers.keys()];
      if (names.length) this.send({ type: 'subscribe', pvs: names });
      this.handlers.onState?.(true);
    };
    ws.onmessage = (e) => this.handle(JSON.parse(e.data));
    ws.onclose = () => {
      const was = this.connected;
      this.connected = false;
      for (const [, p] of this.pending) p.reject(new Error('connection lost'));
      this.pending.clear();
      if (was) this.handlers.onState?.(false);
      for (const [name, set] of this.watchers) for (const fn of set) fn(undefined, name);
      if (!this.closedByUser) {
        setTimeout(() => this.open(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 5000);
      }
    };
  }

  close() {
    this.closedByUser = true;
    this.socket?.close();
  }

  send(m) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(m));
  }

  handle(m) {
    if (m.type === 'update') {
      for (const f of Object.keys(ARRAYS)) {
        if (m[f] !== undefined) {
          m.value = decodeArray(f, m[f]);
          delete m[f];
        }
      }
      let v = this.values.get(m.pv);
      if (!v) {
        v = { pv: m.pv, readonly: true };
        this.values.set(m.pv, v);
      }
      Object.assign(v, m);
      const set = this.watchers.get(m.pv);
      if (set) for (const fn of set) fn(v, m.pv);
      return;
    }
    if (m.id !== undefined && this.pending.has(m.id)) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === 'error') p.reject(new Error(m.message));
      else p.resolve(m.value);
      return;
    }
    if (m.type === 'error') this.handlers.onError?.(m);
  }

  /**
   * Calls fn(value, name) with the merged value on every update of `name` (undefined while
   * disconnected). Returns the function that stops watching; the PV is subscribed while watched.
   */
  watch(name, fn) {
    let set = this.watchers.get(name);
    if (!set) {
      set = new Set();
      this.watchers.set(name, set);
      this.send({ type: 'subscribe', pvs: [name] });
    } else {
      const v = this.values.get(name);
      if (v) queueMicrotask(() => set.has(fn) && fn(v, name));
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.watchers.get(name) === set) {
        this.watchers.delete(name);
        this.values.delete(name);
        this.send({ type: 'clear', pvs: [name] });
      }
    };
  }

  request(m) {
    return new Promise((resolve, reject) => {
      if (this.socket?.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.send({ ...m, id });
    });
  }

  /** Writes a value (number, string, boolean, array) as a pvAccess put would; resolves when done. */
  write(name, value) {
    return this.request({ type: 'write', pv: name, value });
  }

  /** Runs a command as a pvAccess RPC would; resolves with its return value. */
  call(name, value) {
    return this.request(value === undefined ? { type: 'call', pv: name } : { type: 'call', pv: name, value });
  }
}
