// Garbage and mutated datagrams into every layer of the SRP stack (sans-I/O): nothing throws, the
// damage is counted, and a clean exchange still works afterwards. Seeded (PVTREE_FUZZ_SEED shifts
// the seed, PVTREE_FUZZ_SCALE multiplies the cases, as the other fuzz tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkStack } from '../../src/srp/stack.ts';
import { SrpV3Client } from '../../src/srp/srpv3-client.ts';
import { SrpV3Emulation } from '../../src/srp/srpv3-emulation.ts';
import { SrpOpcode, encodeSrpRequest } from '../../src/srp/srpv3.ts';

const SCALE = Number(process.env.PVTREE_FUZZ_SCALE ?? 1);
let seed = (Number(process.env.PVTREE_FUZZ_SEED ?? 0) + 0x5eed) >>> 0 || 1;
const rnd = (): number => {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 2 ** 32;
};
const int = (n: number) => Math.floor(rnd() * n);

function mutate(b: Uint8Array): Uint8Array {
  const out = Uint8Array.from(b);
  switch (int(4)) {
    case 0: for (let k = 1 + int(4); k > 0; k--) out[int(out.length)] ^= 1 << int(8); return out;
    case 1: return out.subarray(0, int(out.length + 1));
    case 2: return Uint8Array.from([...out, ...Array.from({ length: 1 + int(40) }, () => int(256))]);
    default: return Uint8Array.from({ length: int(200) }, () => int(256));
  }
}

for (const pack of [1, 2] as const) {
  test(`packetizer v${pack} over RSSI: mutated datagrams into client and server, then a clean exchange`, () => {
    let now = 0;
    const c2s: Uint8Array[] = [];
    const s2c: Uint8Array[] = [];
    const seen: Uint8Array[] = [];
    const got: string[] = [];
    const emu = new SrpV3Emulation();
    const server: LinkStack = new LinkStack({
      server: true, packetizer: pack, ibCrc: true, sendDatagram: (d) => void s2c.push(d.slice()),
      onFrame: (_t, f, e) => { if (!e) { const r = emu.handle(f); if (r) server.sendFrame(0, r, now); } },
    });
    const eng = new SrpV3Client({ send: (f) => void client.sendFrame(0, f, now) });
    const client: LinkStack = new LinkStack({
      packetizer: pack, ibCrc: true, sendDatagram: (d) => { c2s.push(d.slice()); seen.push(d.slice()); },
      onFrame: (_t, f, e) => { if (!e) eng.receive(f); },
      onState: (open) => eng.setLink(open, 'fuzz', now),
    });
    const pump = () => {
      for (let n = 0; n < 1000 && (c2s.length || s2c.length); n++) {
        while (c2s.length) server.receive(c2s.shift()!, now);
        while (s2c.length) client.receive(s2c.shift()!, now);
      }
    };
    const run = (ms: number) => {
      const end = now + ms;
      for (let n = 0; n < 10000; n++) {
        pump();
        const next = Math.min(client.nextDeadline(), server.nextDeadline());
        if (next > end) break;
        now = Math.max(now, next);
        client.tick(now);
        server.tick(now);
      }
      now = end;
      pump();
    };
    server.start(now);
    client.start(now);
    run(10);
    assert.ok(client.isOpen);
    const read = (addr: number, size: number, name: string) => eng.submit({
      type: 'read', address: addr, size, data: new Uint8Array(size), timeoutMs: 5000, done: (e) => void got.push(e ? `${name}: ${e}` : name),
    }, now);
    for (let i = 0; i < 20; i++) read(0x1000 * i, 4 + 4 * int(1000), `warm${i}`);
    run(50);
    const corpus = seen.slice();
    // a storm of damaged datagrams, both ways, mixed with traffic
    const cases = 3000 * SCALE;
    for (let i = 0; i < cases; i++) {
      const d = mutate(corpus[int(corpus.length)]);
      if (rnd() < 0.5) server.receive(d, now); else client.receive(d, now);
      if (i % 100 === 0) run(1);
    }
    // whatever state the storm left (the link may have been reset), the stack recovers
    run(3000);
    assert.ok(client.isOpen, 'the link is open again');
    const before = got.length;
    for (let i = 0; i < 10; i++) read(0x400 * i, 4096, `after${i}`);
    run(200);
    assert.deepEqual(got.slice(before), Array.from({ length: 10 }, (_, i) => `after${i}`), 'clean reads after the storm');
    assert.ok(client.rssi!.stats.dropped + server.rssi!.stats.dropped > cases / 10, 'damage was counted');
  });
}

test('SRPv3 emulator and client engine: mutated frames never throw', () => {
  const emu = new SrpV3Emulation();
  const eng = new SrpV3Client({ send: () => {} });
  eng.setLink(true);
  const reqs = [
    encodeSrpRequest({ opcode: SrpOpcode.write, id: 1, address: 0x100, size: 16, hwTimeout: 10, ignoreMemResp: false }, new Uint8Array(16)),
    encodeSrpRequest({ opcode: SrpOpcode.read, id: 2, address: 0x100, size: 4096, hwTimeout: 10, ignoreMemResp: false }),
  ];
  const resps = reqs.map((r) => emu.handle(r)!);
  for (let i = 0; i < 5000 * SCALE; i++) {
    const r = emu.handle(mutate(reqs[int(2)]));
    if (r) assert.ok(r.length >= 24);
    eng.receive(mutate(resps[int(2)]));
  }
  assert.equal(eng.outstanding, 0);
});
