// Sans-I/O UDP search responder of the CA server: a datagram of VERSION / SEARCH requests in, the
// reply datagram out. The socket glue (server.ts) sends it back to the sender.

import { CA_ADDRESS_USE_SENDER, CA_MINOR_VERSION, SEARCH_DO_REPLY } from './constants.ts';
import { decodeDatagram } from './framer.ts';
import { concatBytes, encodeMessage } from './messages.ts';
import type { CaClientInfo, CaPv, CaSource } from './source.ts';

/**
 * Answers one UDP datagram: returns the reply datagram (VERSION + a SEARCH reply
 * or NOT_FOUND per name), or undefined when nothing is to be sent. Bad datagrams
 * produce an `error` string and no reply. Never throws.
 */
export function answerUdpDatagram(
  datagram: Uint8Array,
  source: CaSource,
  serverPort: number,
  maxPayloadSize = 16384,
  client: CaClientInfo = {},
): { reply?: Uint8Array; error?: string; names: string[] } {
  const parts: Uint8Array[] = [];
  const names: string[] = [];
  let sequence = 0;
  let priority = 0;
  let error: string | undefined;
  for (const r of decodeDatagram(datagram, 'c2s', maxPayloadSize)) {
    if (!r.ok) {
      error = r.error.message;
      break;
    }
    const m = r.message;
    if (m.kind === 'version') {
      sequence = m.sequence;
      priority = m.priority;
    } else if (m.kind === 'search') {
      names.push(m.name);
      let pv: CaPv | undefined;
      try {
        pv = source.lookup(m.name, client);
      } catch {
        pv = undefined;
      }
      if (pv) {
        parts.push(
          encodeMessage({
            kind: 'searchReply',
            port: serverPort,
            serverAddress: CA_ADDRESS_USE_SENDER,
            cid: m.cid,
            minorVersion: CA_MINOR_VERSION,
          }),
        );
      } else if (m.reply === SEARCH_DO_REPLY) {
        parts.push(encodeMessage({ kind: 'notFound', reply: m.reply, minorVersion: CA_MINOR_VERSION, cid: m.cid }));
      }
    }
  }
  const out: { reply?: Uint8Array; error?: string; names: string[] } = { names };
  if (error !== undefined) out.error = error;
  if (parts.length > 0) {
    out.reply = concatBytes([encodeMessage({ kind: 'version', priority, minorVersion: CA_MINOR_VERSION, sequence }), ...parts]);
  }
  return out;
}
