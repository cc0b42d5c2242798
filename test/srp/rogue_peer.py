# Rogue's own software FPGA, for pvtree's SRPv3 interop tests and benchmarks (run only when
# ROGUE_PEER_ENV names Rogue's environment script; see test/srp/rogue.ts):
#   udp.Server -> rssi.Server -> packetizer (v1 or v2) -> SrpV3Emulation on tDest 0
# Prints "PORT <n>" once listening, then serves until its standard input closes or a line
# "quit" arrives. "stop" / "start" stop and restart the RSSI server (a link loss for the client).
# With --client it instead runs PyRogue's own client stack (UdpRssiPack + SrpV3 + a Device with
# RemoteVariables) against HOST:PORT and prints transaction rates as JSON (the bench's reference).
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

    class Dev(pr.Device):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.add(pr.RemoteVariable(name='Reg', offset=0x0, bitSize=32, base=pr.UInt, mode='RW'))
            self.add(pr.RemoteVariable(name='Block', offset=0x1000, bitSize=32 * 1024, base=pr.UInt, mode='RW',
                                       numValues=1024, valueBits=32, valueStride=32))

    class R(pr.Root):
        def __init__(self):
            super().__init__(name='R', pollEn=False, timeout=2.0)
            self.net = pyrogue.protocols.UdpRssiPack(host=args.host, port=args.port, packVer=args.pack,
                                                     jumbo=False, wait=True, name='Net')
            self.srp = rogue.protocols.srp.SrpV3()
            self.net.application(0) == self.srp
            self.add(self.net)
            self.add(Dev(name='Dev', memBase=self.srp))

    with R() as root:
        reg = root.Dev.Reg
        blk = root.Dev.Block
        out = {}
        seconds = args.seconds

        def rate(fn):
            # args.inflight Python threads each doing blocking transactions, like pvtree's 64 in flight
            count = [0]
            stop = time.time() + seconds
            lock = threading.Lock()

            def worker():
                n = 0
                while time.time() < stop:
                    fn()
                    n += 1
                with lock:
                    count[0] += n
            ts = [threading.Thread(target=worker) for _ in range(args.inflight)]
            t0 = time.time()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return count[0] / (time.time() - t0)

        out['write'] = rate(lambda: reg.set(0x12345678, write=True, verify=False))
        out['read'] = rate(lambda: reg.get(read=True))
        out['block'] = rate(lambda: blk.get(read=True))
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
