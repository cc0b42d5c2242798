# Rogue's own software FPGA, for pvtree's SRPv3 interop tests and benchmarks (run only when
# ROGUE_PEER_ENV names Rogue's environment script; see test/srp/rogue.ts):
#   udp.Server -> rssi.Server -> packetizer (v1 or v2) -> SrpV3Emulation on tDest 0
# Prints "PORT <n>" once listening, then serves until its standard input closes or a line
# "quit" arrives. "stop" / "start" stop and restart the RSSI server (a link loss for the client).
# With --client it instead runs Rogue's own client stack against HOST:PORT (UdpRssiPack + SrpV3:
# PyRogue RemoteVariable.set/get from --inflight threads, and Rogue's memory Master with
# --inflight raw transactions in flight) and prints transaction rates as JSON (bench/srp.ts).
import argparse
import json
import sys
import threading
import time

import rogue
import rogue.protocols.packetizer
import rogue.protocols.rssi
import rogue.protocols.srp
import rogue.protocols.udp


def serve(args):
    udp = rogue.protocols.udp.Server(args.port, False)
    rssi = rogue.protocols.rssi.Server(udp.maxPayload() - 8)
    if args.pack == 2:
        pack = rogue.protocols.packetizer.CoreV2(args.ibcrc, True, True)
    else:
        pack = rogue.protocols.packetizer.Core(True)
    udp == rssi.transport()
    rssi.application() == pack.transport()
    emu = rogue.protocols.srp.SrpV3Emulation()
    pack.application(0) == emu
    rssi._start()
    print(f'PORT {udp.getPort()}', flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == 'quit':
            break
        if cmd == 'stop':
            rssi._stop()
            print('STOPPED', flush=True)
        elif cmd == 'start':
            rssi._start()
            print('STARTED', flush=True)
        elif cmd == 'stats':
            print('STATS ' + json.dumps({'open': rssi.getOpen(), 'down': rssi.getDownCount(),
                                         'drop': rssi.getDropCount(), 'retran': rssi.getRetranCount(),
                                         'packDrop': pack.getDropCount()}), flush=True)
    rssi._stop()
    emu.stop()


def client(args):
    import pyrogue as pr
    import pyrogue.protocols
    import rogue.interfaces.memory as rim

    n = args.inflight

    class Dev(pr.Device):
        def __init__(self, **kw):
            super().__init__(**kw)
            for i in range(n):
                self.add(pr.RemoteVariable(name=f'Reg[{i}]', offset=4 * i, bitSize=32, base=pr.UInt, mode='RW'))
                self.add(pr.RemoteVariable(name=f'Block[{i}]', offset=0x10000 + 0x1000 * i, bitSize=32 * 1024,
                                           base=pr.UInt, mode='RW', numValues=1024, valueBits=32, valueStride=32))

    class R(pr.Root):
        def __init__(self):
            super().__init__(name='R', pollEn=False, timeout=2.0)
            self.net = pyrogue.protocols.UdpRssiPack(host=args.host, port=args.port, packVer=args.pack,
                                                     jumbo=False, wait=True, name='Net')
            self.srp = rogue.protocols.srp.SrpV3()
            self.net.application(0) == self.srp
            self.add(self.net)
            self.add(Dev(name='Dev', memBase=self.srp))

    def threaded(fn):
        # n Python threads, each doing blocking transactions on its own variable
        count = [0]
        stop = time.time() + args.seconds
        lock = threading.Lock()

        def worker(i):
            k = 0
            while time.time() < stop:
                fn(i)
                k += 1
            with lock:
                count[0] += k
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        t0 = time.time()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return count[0] / (time.time() - t0)

    def raw(master, kind, size):
        # Rogue's memory Master straight onto SrpV3: n transactions in flight, each replaced as the oldest completes
        bufs = [bytearray(size) for _ in range(n)]
        ids = []
        done = 0
        stop = time.time() + args.seconds
        t0 = time.time()
        for i in range(n):
            ids.append(master._reqTransaction(0x200000 + 0x1000 * i, bufs[i], size, 0, kind))
        i = 0
        while time.time() < stop:
            master._waitTransaction(ids[i])
            done += 1
            ids[i] = master._reqTransaction(0x200000 + 0x1000 * i, bufs[i], size, 0, kind)
            i = (i + 1) % n
        master._waitTransaction(0)
        err = master._getError()
        if err:
            raise RuntimeError(err)
        return done / (time.time() - t0)

    with R() as root:
        regs = [root.Dev.node(f'Reg[{i}]') for i in range(n)]
        blks = [root.Dev.node(f'Block[{i}]') for i in range(n)]
        out = {}
        out['pyrogue'] = {
            'write': threaded(lambda i: regs[i].set(0x12345678, write=True, verify=False)),
            'read': threaded(lambda i: regs[i].get(read=True)),
            'block': threaded(lambda i: blks[i].get(read=True)),
        }
        m = rim.Master()
        m._setSlave(root.srp)
        m._setTimeout(2000000)
        out['master'] = {
            'write': raw(m, rim.Write, 4),
            'read': raw(m, rim.Read, 4),
            'block': raw(m, rim.Read, 4096),
        }
        print('RESULT ' + json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--pack', type=int, default=2, choices=(1, 2))
    p.add_argument('--ibcrc', action='store_true', help='the server checks the CRC of arriving v2 segments')
    p.add_argument('--client', action='store_true')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--seconds', type=float, default=2.0)
    p.add_argument('--inflight', type=int, default=64)
    args = p.parse_args()
    if args.client:
        client(args)
    else:
        serve(args)


if __name__ == '__main__':
    main()
