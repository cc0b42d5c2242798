// Loads a recorded PVA conversation and splits its TCP streams into messages (pvData tests only
// need the payloads; the framing proper is src/pva's business).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// ../shared beside the project root, wherever the checkout lives (CI clones elsewhere)
export const CAPTURE_DIR = fileURLToPath(new URL('../../../shared/captures/pva', import.meta.url));

export interface PvaMessage {
  dir: 'c2s' | 's2c';
  version: number;
  flags: number;
  command: number;
  bigEndian: boolean;
  control: boolean;
  /** Payload bytes (for control messages: empty; the size field is `controlValue`). */
  payload: Buffer;
  controlValue: number;
}

interface Chunk {
  dir: string;
  hex: string;
  transport?: string;
  conn?: number;
}

export function captureExists(name: string): boolean {
  try {
    readFileSync(`${CAPTURE_DIR}/${name}`);
    return true;
  } catch {
    return false;
  }
}

/** Every TCP message of a capture, in order per direction (directions interleaved by arrival). */
export function loadMessages(name: string): PvaMessage[] {
  const doc = JSON.parse(readFileSync(`${CAPTURE_DIR}/${name}`, 'utf8')) as { chunks: Chunk[] };
  const pending = new Map<string, Buffer>();
  const out: PvaMessage[] = [];
  for (const c of doc.chunks) {
    if ((c.dir !== 'c2s' && c.dir !== 's2c') || !c.hex || c.transport !== 'tcp') continue;
    const key = `${c.conn ?? 0}:${c.dir}`;
    let buf = Buffer.concat([pending.get(key) ?? Buffer.alloc(0), Buffer.from(c.hex, 'hex')]);
    for (;;) {
      if (buf.length < 8) break;
      if (buf[0] !== 0xca) throw new Error(`bad magic in ${name}`);
      const flags = buf[2];
      const big = (flags & 0x80) !== 0;
      const size = big ? buf.readUInt32BE(4) : buf.readUInt32LE(4);
      const control = (flags & 0x01) !== 0;
      const total = control ? 8 : 8 + size;
      if (buf.length < total) break;
      out.push({
        dir: c.dir,
        version: buf[1],
        flags,
        command: buf[3],
        bigEndian: big,
        control,
        payload: control ? Buffer.alloc(0) : Buffer.from(buf.subarray(8, total)),
        controlValue: control ? size : 0,
      });
      buf = buf.subarray(total);
    }
    pending.set(key, buf);
  }
  return out;
}
