// The shipped examples load and serve what their comments promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRoot } from '../../src/cli/serve.ts';
import type { LocalVariable } from '../../src/tree/index.ts';
import { serve } from './harness.ts';

test('examples/demo.ts: every feature served, NoServe kept private, counters move under polling', { timeout: 20000 }, async () => {
  const root = await loadRoot('examples/demo.ts');
  const s = await serve(root, { base: 'pvtree' });
  try {
    const names = Object.values(s.server.list());
    for (const n of ['Fpga:Uptime', 'Fpga:TrigMode', 'Fpga:Gains', 'Environment:Temperature', 'Environment:Waveform', 'Control:SetFan', 'Control:StartRun', 'Fpga:CountReset']) {
      assert.ok(names.includes(`pvtree:Demo:${n}`), n);
    }
    assert.ok(!names.some((n) => n.endsWith(':Secret')), 'NoServe variable not served');
    root.pollEn = true;
    const first = Number((await s.client.get('pvtree:Demo:Fpga:Uptime')).get('value'));
    await new Promise((r) => setTimeout(r, 2300));
    const later = Number((await s.client.get('pvtree:Demo:Fpga:Uptime')).get('value'));
    assert.ok(later > first, `Uptime counts: ${first} → ${later}`);
    const before = await s.client.rpc('pvtree:Demo:Control:SetFan', { arg: '1500' });
    assert.equal(before.get('value'), 1200);
    assert.equal((root.getNode('Demo.Environment.FanSpeed') as LocalVariable).value, 1500);
  } finally {
    await s.close();
  }
});

test('examples/board.yaml: the declarative tree serves and its commands act', async () => {
  const root = await loadRoot('examples/board.yaml');
  const s = await serve(root, { base: 'lab' });
  try {
    const served = s.server.list();
    const names = Object.values(served);
    // 13 of the board's own, plus the Root's and each device's PyRogue built-ins
    assert.equal(Object.keys(served).filter((p) => !root.getNode(p)!.inGroup('Builtin')).length, 13);
    for (const n of ['RogueVersion', 'ReadAll', 'Regs:enable', 'Settings:WriteDevice']) assert.ok(names.includes(`lab:Board:${n}`), n);
    assert.ok(!names.includes('lab:Board:Settings:Internal'));
    await s.client.rpc('lab:Board:Settings:SetGain', { arg: '3.5' });
    assert.equal((await s.client.get('lab:Board:Settings:Gain')).get('value'), 3.5);
    await s.client.rpc('lab:Board:Settings:Defaults', {});
    assert.equal((await s.client.get('lab:Board:Settings:Gain')).get('value'), 1.5);
  } finally {
    await s.close();
  }
});
