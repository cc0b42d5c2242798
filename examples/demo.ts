// The pvtree demo: an emulated detector board served over pvAccess and Channel Access.
//   npx pvtree serve examples/demo.ts --loopback
// Shows counters that change under polling, enums, arrays, alarm limits that trip, commands with
// and without arguments, and a NoServe variable that stays private.
import {
  Device,
  Emulate,
  LinkVariable,
  LocalCommand,
  LocalVariable,
  RemoteCommand,
  RemoteVariable,
  Root,
} from 'pvtree';

export function createRoot(): Root {
  const memory = new Emulate();
  const root = new Root({ name: 'Demo', description: 'pvtree demo board', pollEn: true, memBase: memory });

  // "Firmware": a free-running counter register the hardware increments by itself.
  const fpga = new Device({ name: 'Fpga', description: 'Emulated FPGA registers', offset: 0x0 });
  root.add(fpga);
  fpga.add(new RemoteVariable({ name: 'Version', description: 'Firmware version', offset: 0x00, bitSize: 32, base: 'UInt', mode: 'RO', value: 0x0102_0304 }));
  fpga.add(new RemoteVariable({ name: 'Uptime', description: 'Seconds since power-up (counts by itself)', offset: 0x04, bitSize: 32, base: 'UInt', mode: 'RO', pollInterval: 1, units: 's', disp: '{:d}' }));
  fpga.add(new RemoteVariable({ name: 'Scratch', description: 'Scratch register', offset: 0x08, bitSize: 32, base: 'UInt', mode: 'RW' }));
  fpga.add(new RemoteVariable({ name: 'Enable', description: 'Run enable bit', offset: 0x0c, bitSize: 1, bitOffset: 0, base: 'Bool', mode: 'RW', enum: { 0: 'False', 1: 'True' } }));
  fpga.add(new RemoteVariable({ name: 'TrigMode', description: 'Trigger source', offset: 0x0c, bitSize: 2, bitOffset: 4, base: 'UInt', mode: 'RW', enum: { 0: 'Internal', 1: 'External', 2: 'Software', 3: 'Disabled' } }));
  fpga.add(new RemoteVariable({ name: 'Threshold', description: 'Signed 12-bit threshold', offset: 0x10, bitSize: 12, bitOffset: 0, base: 'Int', mode: 'RW', minimum: -2048, maximum: 2047, units: 'ADC' }));
  fpga.add(new RemoteVariable({ name: 'Gains', description: 'Per-channel gain codes', offset: 0x20, base: 'UInt', bitSize: 64, numValues: 8, valueBits: 8, valueStride: 8, mode: 'RW' }));
  fpga.add(new RemoteCommand({ name: 'CountReset', description: 'Pulse: clears Uptime', offset: 0x14, bitSize: 1, base: 'UInt', function: RemoteCommand.touchOne }));
  fpga.add(new RemoteVariable({ name: 'Secret', description: 'Not served: group NoServe', offset: 0x18, bitSize: 32, base: 'UInt', mode: 'RW', groups: ['NoServe'] }));

  // A sensor whose reading is computed on every poll, with alarm limits that trip.
  const env = new Device({ name: 'Environment', description: 'Board sensors' });
  root.add(env);
  const t0 = Date.now();
  env.add(
    new LocalVariable({
      name: 'Temperature',
      description: 'Board temperature (sweeps through its alarm limits)',
      value: 25.0,
      typeStr: 'Float64',
      mode: 'RO',
      units: 'degC',
      disp: '{:.2f}',
      minimum: -20,
      maximum: 120,
      lowAlarm: 0,
      lowWarning: 10,
      highWarning: 60,
      highAlarm: 80,
      pollInterval: 1,
      localGet: () => 40 + 50 * Math.sin((Date.now() - t0) / 20000),
    }),
  );
  env.add(new LocalVariable({ name: 'FanSpeed', description: 'Fan speed setpoint', value: 1200, typeStr: 'UInt16', mode: 'RW', units: 'rpm', minimum: 0, maximum: 5000 }));
  env.add(new LocalVariable({ name: 'Mode', description: 'Cooling mode', value: 0, typeStr: 'UInt8', mode: 'RW', enum: { 0: 'Off', 1: 'Auto', 2: 'Max' } }));
  env.add(new LocalVariable({ name: 'Label', description: 'Free text', value: 'bench 3', typeStr: 'str', mode: 'RW' }));
  env.add(new LocalVariable({ name: 'Waveform', description: 'Last 16 samples', value: new Float64Array(16).map((_, i) => Math.sin(i / 2)), mode: 'RO' }));
  const temperature = env.node('Temperature') as LocalVariable<number>;
  env.add(
    new LinkVariable<number>({
      name: 'TemperatureF',
      description: 'Temperature in Fahrenheit (link)',
      mode: 'RO',
      typeStr: 'Float64',
      units: 'degF',
      disp: '{:.1f}',
      dependencies: [temperature],
      linkedGet: () => (temperature.value * 9) / 5 + 32,
    }),
  );

  // Commands with and without arguments.
  const ctl = new Device({ name: 'Control', description: 'Run control' });
  root.add(ctl);
  ctl.add(new LocalVariable({ name: 'RunCount', description: 'Runs started', value: 0, typeStr: 'UInt32', mode: 'RO' }));
  ctl.add(
    new LocalCommand({
      name: 'StartRun',
      description: 'Start a run (no argument)',
      function: async ({ dev }) => {
        const rc = dev!.node('RunCount') as LocalVariable<number>;
        await rc.set(rc.value + 1, { force: true });
      },
    }),
  );
  ctl.add(
    new LocalCommand<number, number>({
      name: 'SetFan',
      description: 'Set the fan speed; returns the previous value',
      argType: 'UInt16',
      retType: 'UInt16',
      function: async ({ root: r, arg }) => {
        const fan = r!.getNode('Demo.Environment.FanSpeed') as LocalVariable<number>;
        const before = fan.value;
        await fan.set(arg!);
        return before;
      },
    }),
  );

  // The emulated hardware counts Uptime once a second while the tree runs.
  let timer: NodeJS.Timeout | undefined;
  root.addProtocol({
    start: () => {
      timer = setInterval(() => {
        const b = memory.readBytes(0x04, 4);
        const v = (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
        const next = v + 1;
        memory.writeBytes(0x04, Uint8Array.of(next & 0xff, (next >>> 8) & 0xff, (next >>> 16) & 0xff, next >>> 24));
        if (memory.readBytes(0x14, 1)[0] & 1) {
          memory.writeBytes(0x04, new Uint8Array(4));
          memory.writeBytes(0x14, new Uint8Array(1));
        }
      }, 1000);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  });
  return root;
}
