// The stream framer: any cutting of the recorded streams gives the same frames; broken streams give
// exactly one ProtocolError and nothing after it; memory stays bounded by the size limit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { frameBytes, framesOfStream, loadCaptures, streamsOf } from './captures.ts';
import { ProtocolError, type Frame } from '../../src/pva/messages.ts';
import { DEFAULT_MAX_MESSAGE_SIZE, Framer, framesOfDatagram } from '../../src/pva/framer.ts';
import { HEADER_SIZE } from '../../src/pva/protocol.ts';
import { prng } from '../util/prng.ts';


const show = (fs: Array<Frame | ProtocolError>): string[] =>
  fs.map((f) => (f instanceof ProtocolError ? `error: ${f.message}` : `${f.version}/${f.flags}/${f.command}/${f.controlValue} ${frameBytes(f).toString('hex')}`));

/** Feeds `bytes` cut at the given lengths, checking the buffering bound after each push. */
function feed(framer: Framer, bytes: Buffer, sizes: () => number): Array<Frame | ProtocolError> {
  const out: Array<Frame | ProtocolError> = [];
  for (let pos = 0; pos < bytes.length; ) {
    const n = Math.max(1, sizes());
    out.push(...framer.push(bytes.subarray(pos, pos + n)));
    assert.ok(framer.buffered <= framer.maxMessageSize + HEADER_SIZE);
    pos += n;
  }
  return out;
}

/** A message with the given header fields and payload. */
function msg(command: number, payload: Buffer | number, flags = 0, le = true): Buffer {
  const p = typeof payload === 'number' ? Buffer.alloc(payload, 0xab) : payload;
  const h = Buffer.from([0xca, 2, flags | (le ? 0 : 0x80), command, 0, 0, 0, 0]);
  if (le) h.writeUInt32LE(p.length, 4);
  else h.writeUInt32BE(p.length, 4);
  return Buffer.concat([h, p]);
}
const ctrl = (command: number, value: number, flags = 0x01): Buffer => {
  const h = Buffer.from([0xca, 2, flags, command, 0, 0, 0, 0]);
  h.writeUInt32LE(value >>> 0, 4);
  return h;
};

/** Asserts that `frames` is `good` frames then exactly one error, and that the framer stays dead. */
function assertBreaks(framer: Framer, frames: Array<Frame | ProtocolError>, good: number, pattern: RegExp, label?: string): void {
  const errors = frames.filter((f) => f instanceof ProtocolError);
  assert.equal(errors.length, 1, `${label ?? ''}\n${show(frames).join('\n')}`);
  assert.equal(frames.length, good + 1, label);
  assert.ok(frames[good] instanceof ProtocolError, label);
  assert.match((frames[good] as ProtocolError).message, pattern, label);
  assert.equal(framer.buffered, 0);
  // nothing after, whatever comes next
  assert.deepEqual(framer.push(msg(0x0a, 9)), []);
  assert.deepEqual(framer.push(ctrl(3, 0)), []);
  assert.deepEqual(framer.push(Buffer.alloc(0)), []);
}

describe('framer on the recorded streams', () => {
  const captures = loadCaptures();
  for (const cap of captures) {
    it(`${cap.name}: whole chunks, one stream, single bytes and random cuts agree`, () => {
      for (const s of streamsOf(cap).filter((x) => x.transport === 'tcp')) {
        const reference = show(framesOfStream('tcp', s.chunks));
        assert.ok(reference.length > 0);
        assert.ok(reference.every((r) => !r.startsWith('error')), reference.join('\n'));
        const all = Buffer.concat(s.chunks);
        // the frames are exactly the stream's bytes
        assert.equal(reference.map((r) => r.split(' ')[1]).join(''), all.toString('hex'));

        const one = new Framer();
        assert.deepEqual(show(one.push(all)), reference);
        assert.equal(one.buffered, 0);

        const bytewise = new Framer();
        assert.deepEqual(show(feed(bytewise, all, () => 1)), reference);
        assert.equal(bytewise.buffered, 0);

        for (let seed = 1; seed <= 8; seed++) {
          const rnd = prng(seed * 7919 + all.length);
          const max = [2, 9, 64, 700][seed % 4];
          const f = new Framer();
          assert.deepEqual(show(feed(f, all, () => Math.floor(rnd() * max))), reference, `seed ${seed}`);
          assert.equal(f.buffered, 0);
        }
      }
    });
  }

  it('UDP datagrams frame one by one', () => {
    let n = 0;
    for (const cap of captures) {
      for (const s of streamsOf(cap).filter((x) => x.transport === 'udp')) {
        for (const d of s.chunks) {
          const fs = framesOfDatagram(d);
          assert.ok(fs.length >= 1 && fs.every((f) => !(f instanceof ProtocolError)), show(fs).join('\n'));
          n += fs.length;
        }
      }
    }
    assert.ok(n >= 22 * 5);
  });
});

describe('framer basics', () => {
  it('delivers control messages from the header alone, with their value', () => {
    const f = new Framer(16);
    // a control message's size field is a value, not a length: no size limit applies
    const fs = f.push(Buffer.concat([ctrl(2, 0, 0x41), ctrl(1, 0xffffffff), ctrl(3, 7)]));
    assert.deepEqual(fs.map((x) => [(x as Frame).command, (x as Frame).controlValue, (x as Frame).payload.length]), [[2, 0, 0], [1, 0xffffffff, 0], [3, 7, 0]]);
  });

  it('big-endian sizes', () => {
    const f = new Framer();
    const fs = f.push(Buffer.concat([msg(0x03, 300, 0, false), msg(0x04, 2, 0x40, false)]));
    assert.deepEqual(fs.map((x) => (x as Frame).payload.length), [300, 2]);
  });

  it('zero-length messages', () => {
    const f = new Framer();
    assert.deepEqual(f.push(msg(0x0a, 0)).map((x) => (x as Frame).payload.length), [0]);
  });

  it('does not keep or alias the caller’s buffers', () => {
    const f = new Framer();
    const m = msg(0x0a, Buffer.from('0102030405060708', 'hex'));
    const chunk = Buffer.from(m.subarray(0, 10));
    assert.deepEqual(f.push(chunk), []);
    chunk.fill(0); // the caller reuses its buffer
    const [frame] = f.push(m.subarray(10)) as Frame[];
    assert.equal(frame.payload.toString('hex'), '0102030405060708');
    const whole = Buffer.from(m);
    const [again] = new Framer().push(whole) as Frame[];
    whole.fill(0);
    assert.equal(again.payload.toString('hex'), '0102030405060708');
  });

  it('accepts plain Uint8Array views at any offset', () => {
    const m = Buffer.concat([msg(0x0a, Buffer.from('a1a2a3a4', 'hex')), msg(0x0b, 3)]);
    const backing = new Uint8Array(m.length + 10);
    backing.set(m, 5);
    const f = new Framer();
    const view = backing.subarray(5, 5 + m.length);
    const fs = [...f.push(view.subarray(0, 3)), ...f.push(view.subarray(3, 14)), ...f.push(view.subarray(14))];
    assert.deepEqual(fs.map((x) => [(x as Frame).command, (x as Frame).payload.toString('hex')]), [[0x0a, 'a1a2a3a4'], [0x0b, 'ababab']]);
    assert.equal(f.buffered, 0);
  });

  it('buffers a large message trickling in, in linear time', () => {
    const size = 16 * 1024 * 1024;
    const big = msg(0x0d, size);
    const f = new Framer(size);
    const t0 = Date.now();
    const out: Array<Frame | ProtocolError> = [];
    let peak = 0;
    for (let pos = 0; pos < big.length; pos += 4096) {
      out.push(...f.push(big.subarray(pos, pos + 4096)));
      peak = Math.max(peak, f.buffered);
    }
    const ms = Date.now() - t0;
    assert.equal(out.length, 1);
    assert.equal((out[0] as Frame).payload.length, size);
    assert.ok(peak <= size + HEADER_SIZE);
    assert.ok(ms < 3000, `took ${ms} ms`);
  });

  it('defaults to a 64 MiB limit', () => {
    assert.equal(new Framer().maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    assert.equal(DEFAULT_MAX_MESSAGE_SIZE, 64 * 1024 * 1024);
  });
});

describe('broken streams: one ProtocolError, then nothing', () => {
  it('bad magic at the start', () => {
    const f = new Framer();
    assertBreaks(f, f.push(Buffer.from('cb02000a00000000', 'hex')), 0, /bad magic 0xcb/);
  });

  it('bad magic seen from the first byte', () => {
    const f = new Framer();
    assertBreaks(f, f.push(Buffer.from([0x47])), 0, /bad magic 0x47/); // 'G' of an HTTP request
  });

  it('bad magic after good messages, in the same chunk and in a later one', () => {
    const good = Buffer.concat([ctrl(2, 0, 0x41), msg(0x01, 20, 0x40)]);
    const f = new Framer();
    assertBreaks(f, f.push(Buffer.concat([good, Buffer.from('GET / HTTP/1.1\r\n')])), 2, /bad magic 0x47/);
    const g = new Framer();
    const fs = [...g.push(good), ...g.push(Buffer.from([0x00]))];
    assertBreaks(g, fs, 2, /bad magic 0x0/);
    // bad magic after a partial header was accepted
    const h = new Framer();
    assertBreaks(h, [...h.push(good.subarray(0, 4)), ...h.push(good.subarray(4, 8)), ...h.push(Buffer.from([0xff]))], 1, /bad magic 0xff/);
  });

  it('oversized message (configurable limit), caught from its header', () => {
    for (const le of [true, false]) {
      const f = new Framer(100);
      const ok = msg(0x0a, 100, 0, le);
      const tooBig = msg(0x0a, 101, 0, le);
      const fs = [...f.push(ok), ...f.push(tooBig.subarray(0, HEADER_SIZE))];
      assertBreaks(f, fs, 1, /101 bytes exceeds the limit of 100/);
    }
    const g = new Framer(1000);
    const header = Buffer.from('ca02000aff000000', 'hex'); // size 0xff000000... little-endian: 255
    assert.deepEqual(g.push(header), []);
    const h = new Framer(1000);
    assertBreaks(h, h.push(Buffer.from('ca02000a000000ff', 'hex')), 0, /exceeds the limit/); // 4278190080 bytes
  });

  it('segments adding up past the limit', () => {
    const f = new Framer(100);
    const fs = [...f.push(msg(0x0a, 60, 0x10)), ...f.push(msg(0x0a, 30, 0x30)), ...f.push(msg(0x0a, 11, 0x20))];
    assertBreaks(f, fs, 0, /exceeds the limit/);
    const g = new Framer(100);
    const joined = [...g.push(msg(0x0a, 60, 0x10)), ...g.push(msg(0x0a, 30, 0x30)), ...g.push(msg(0x0a, 10, 0x20))];
    assert.equal(joined.length, 1);
    assert.equal((joined[0] as Frame).payload.length, 100);
  });

  it('segment misuse', () => {
    const cases: Array<[string, Buffer[], number, RegExp]> = [
      ['middle without first', [msg(0x0a, 4, 0x30)], 0, /without a first segment/],
      ['last without first', [msg(0x0a, 4, 0x20)], 0, /without a first segment/],
      ['first while one is open', [msg(0x0a, 4, 0x10), msg(0x0a, 4, 0x10)], 0, /first segment while another is open/],
      ['unsegmented inside a segmented one', [msg(0x0a, 4, 0x10), msg(0x0b, 4)], 0, /unsegmented message inside/],
      ['segment of another command', [msg(0x0a, 4, 0x10), msg(0x0b, 4, 0x20)], 0, /another command/],
      ['good, then misuse', [msg(0x0a, 4, 0x10), msg(0x0a, 4, 0x20), msg(0x0a, 4, 0x20)], 1, /without a first segment/],
    ];
    for (const [label, parts, good, pattern] of cases) {
      // all at once, and message by message
      const f = new Framer();
      assertBreaks(f, f.push(Buffer.concat(parts)), good, pattern, `${label} (all at once)`);
      const g = new Framer();
      assertBreaks(g, parts.flatMap((p) => g.push(p)), good, pattern, `${label} (message by message)`);
    }
  });

  it('datagrams with trailing bytes, truncated messages or open segments', () => {
    const good = msg(0x03, 10, 0, false);
    const cases: Array<[Buffer, number]> = [
      [Buffer.concat([good, Buffer.from([0xca, 0x02])]), 1],
      [good.subarray(0, good.length - 1), 0],
      [msg(0x03, 10, 0x10), 0],
      [Buffer.concat([good, Buffer.from([0x00])]), 1],
    ];
    for (const [d, ngood] of cases) {
      const fs = framesOfDatagram(d);
      assert.equal(fs.length, ngood + 1, show(fs).join('\n'));
      assert.ok(fs[ngood] instanceof ProtocolError);
    }
    // a datagram larger than 64 KiB cannot hold a valid message
    const huge = framesOfDatagram(msg(0x03, 70000));
    assert.equal(huge.length, 1);
    assert.ok(huge[0] instanceof ProtocolError);
  });
});
