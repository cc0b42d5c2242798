// The page in a real browser: Debian's chromium (and firefox-esr when installed) driven by
// puppeteer-core, against examples/demo.ts served in this process. Checks what a user sees and
// does: the tree appears, Uptime counts live, FanSpeed is edited, an RO variable has no editor,
// the TrigMode dropdown sets the enum, Temperature takes the alarm colour as it crosses its limit,
// commands run and show their result, the strip chart draws, the filter and the hidden toggle,
// copying a PV name, the SystemLog. Screenshots go to tmp/test-artifacts/web/ (git-ignored).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { EpicsPvServer } from '../../src/epics/index.ts';
import { memoryLogger } from '../../src/pva/server/index.ts';
import type { LocalVariable, Root } from '../../src/tree/index.ts';
import { WebServer } from '../../src/web/index.ts';
import { createRoot } from '../../examples/demo.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const ARTIFACTS = process.env.PVTREE_TEST_ARTIFACTS ?? join(REPO, 'tmp/test-artifacts/web');

/** The flags every browser run gets (as root in a container: no sandbox; nothing from the network). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const BROWSERS = [
  { name: 'chromium', path: process.env.PVTREE_CHROMIUM ?? '/usr/bin/chromium', required: true },
  { name: 'firefox', path: process.env.PVTREE_FIREFOX ?? '/usr/bin/firefox-esr', required: false },
] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => T | undefined | false, what: string, timeoutMs = 15000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const r = fn();
    if (r !== undefined && r !== false) return r;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const row = (path: string) => `tr[data-path="${path}"]`;

for (const b of BROWSERS) {
  const have = existsSync(b.path);
  const skip = have ? false : `${b.name} is not installed at ${b.path} (Debian: apt-get install ${b.name === 'chromium' ? 'chromium' : 'firefox-esr'}${b.required ? '; CI installs it' : ''})`;
  describe(`the page in ${b.name}`, { skip }, () => {
    let root: Root;
    let web: WebServer;
    let browser: Browser;
    let page: Page;
    let profile: string;
    const errors: string[] = [];
    const shot = async (name: string) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, `${b.name}-${name}.png`) as `${string}.png` });
    };
    const node = <T>(path: string) => root.getNode(path) as LocalVariable<T>;
    const text = (sel: string) => page.$eval(sel, (e) => (e as HTMLElement).textContent ?? '');

    before(async () => {
      root = createRoot();
      const log = memoryLogger();
      const epics = new EpicsPvServer({ base: 'pvtree', root, protocols: [], logger: log });
      web = new WebServer({ epics, port: 0, logger: log });
      root.addProtocol(epics);
      root.addProtocol(web);
      await root.start();
      profile = mkdtempSync(join(tmpdir(), `pvtree-${b.name}-`));
      browser = await puppeteer.launch(
        b.name === 'chromium'
          ? { executablePath: b.path, headless: true, userDataDir: profile, args: CHROMIUM_ARGS }
          : { browser: 'firefox', executablePath: b.path, headless: true, userDataDir: profile, extraPrefsFirefox: { 'network.proxy.type': 0 } },
      );
      page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(String((e as Error).message ?? e)));
      await page.setViewport({ width: 1366, height: 860 });
    });

    after(async () => {
      await browser?.close();
      await root?.stop();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    test('the tree appears with live values; Uptime counts', async () => {
      await page.goto(web.url);
      await page.waitForSelector(`${row('Demo.Fpga.Uptime')} td.value .val`, { timeout: 20000 });
      await page.waitForFunction((sel) => /^\d+$/.test(document.querySelector(sel)?.textContent ?? ''), { timeout: 20000 }, `${row('Demo.Fpga.Uptime')} td.value`);
      for (const p of ['Demo.Fpga', 'Demo.Environment.Temperature', 'Demo.Environment.FanSpeed', 'Demo.Control.SetFan', 'Demo.Fpga.Gains']) {
        assert.ok(await page.$(row(p)), `row ${p}`);
      }
      assert.equal(await page.$(row('Demo.Fpga.Secret')), null, 'NoServe is not shown');
      assert.equal(await text(`${row('Demo.Environment.FanSpeed')} td.units`), 'rpm');
      assert.equal(await text(`${row('Demo.Environment.FanSpeed')} td.mode`), 'RW');
      assert.equal(await text(`${row('Demo.Environment.FanSpeed')} td.type`), 'UInt16');
      const desc = await page.$eval(`${row('Demo.Environment.Temperature')} td.name`, (e) => (e as HTMLElement).title);
      assert.match(desc, /sweeps through its alarm limits/);
      const first = Number(await text(`${row('Demo.Fpga.Uptime')} td.value`));
      await page.waitForFunction(
        (sel, v) => Number(document.querySelector(sel)?.textContent) > v,
        { timeout: 15000 },
        `${row('Demo.Fpga.Uptime')} td.value`,
        first,
      );
      // what the page shows is the tree's value
      const shown = Number(await text(`${row('Demo.Fpga.Uptime')} td.value`));
      assert.ok(Math.abs(shown - Number(node('Demo.Fpga.Uptime').value)) <= 1);
      await shot('1-tree');
    });

    test('an RO variable has no editor; RW ones have the editor for their type', async () => {
      for (const p of ['Demo.Environment.Temperature', 'Demo.Fpga.Uptime', 'Demo.Fpga.Version']) {
        assert.equal(await page.$(`${row(p)} td.value input, ${row(p)} td.value select`), null, `${p} has no editor`);
      }
      assert.ok(await page.$(`${row('Demo.Environment.FanSpeed')} input[type="number"][min="0"][max="5000"]`), 'FanSpeed: a number input with its limits');
      assert.ok(await page.$(`${row('Demo.Fpga.TrigMode')} select`), 'TrigMode: a dropdown');
      assert.ok(await page.$(`${row('Demo.Environment.Label')} input[type="text"]`), 'Label: a text input');
      assert.ok(await page.$(`${row('Demo.Fpga.Enable')} select`), 'Enable (Bool with labels): a dropdown');
      assert.ok(await page.$(`${row('Demo.PollEn')} input[type="checkbox"]`), 'PollEn (Bool): a toggle');
      assert.ok(await page.$(`${row('Demo.Environment.Waveform')} canvas.spark`), 'Waveform: a plot');
    });

    test('editing FanSpeed changes the tree value; a value beyond the limit is refused in the page', async () => {
      const input = `${row('Demo.Environment.FanSpeed')} input`;
      await page.click(input, { count: 3 });
      await page.type(input, '9999');
      await page.keyboard.press('Enter');
      await page.waitForSelector(`${input}.invalid`, { timeout: 5000 });
      assert.equal(node('Demo.Environment.FanSpeed').value, 1200, 'nothing written');
      await page.click(input, { count: 3 });
      await page.type(input, '2345');
      await page.keyboard.press('Enter');
      await until(() => node('Demo.Environment.FanSpeed').value === 2345, 'FanSpeed = 2345 in the tree');
      await page.waitForFunction((sel) => !document.querySelector(sel)?.classList.contains('busy'), { timeout: 5000 }, input);
      assert.equal(await page.$eval(input, (e) => (e as HTMLInputElement).value), '2345');
    });

    test('the TrigMode dropdown sets the enum', async () => {
      await page.select(`${row('Demo.Fpga.TrigMode')} select`, '2');
      await until(() => node('Demo.Fpga.TrigMode').value === 2, 'TrigMode = Software (2) in the tree');
      await node('Demo.Fpga.TrigMode').set(3); // and the tree's change shows in the dropdown
      await page.waitForFunction((sel) => (document.querySelector(sel) as HTMLSelectElement)?.selectedOptions[0]?.textContent === 'Disabled', { timeout: 5000 }, `${row('Demo.Fpga.TrigMode')} select`);
      await shot('2-edited');
    });

    test('a command runs and shows its result; a failing one shows the error and lands in the SystemLog', async () => {
      const cmd = row('Demo.Control.SetFan');
      await page.click(`${cmd} input.cmd-arg`, { count: 3 });
      await page.type(`${cmd} input.cmd-arg`, '1500');
      await page.click(`${cmd} button.exec`);
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '→ 2345', { timeout: 10000 }, `${cmd} output.result`);
      assert.equal(node('Demo.Environment.FanSpeed').value, 1500);

      const run = row('Demo.Control.StartRun');
      assert.equal(await page.$(`${run} input.cmd-arg`), null, 'StartRun takes no argument');
      await page.click(`${run} button.exec`);
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '→ done', { timeout: 10000 }, `${run} output.result`);
      await until(() => node('Demo.Control.RunCount').value === 1, 'RunCount = 1');
      await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '1', { timeout: 10000 }, `${row('Demo.Control.RunCount')} td.value`);

      // 70000 does not fit SetFan's UInt16 argument: refused by the tree, shown in the row and logged
      await page.evaluate((sel) => {
        const i = document.querySelector(sel) as HTMLInputElement;
        i.value = '70000';
      }, `${cmd} input.cmd-arg`);
      await page.click(`${cmd} button.exec`);
      await page.waitForSelector(`${cmd} output.result.error`, { timeout: 10000 });
      assert.match(await text(`${cmd} output.result`), /70000/);
      await page.waitForFunction(() => document.querySelectorAll('#log li.log-error').length > 0, { timeout: 10000 });
      assert.match(await text('#log li.log-error .log-msg'), /70000/);
    });

    test('Temperature takes the alarm colour when it crosses its limit', async () => {
      const cell = `${row('Demo.Environment.Temperature')} td.value`;
      const sev = () => page.$eval(cell, (e) => (e as HTMLElement).dataset.severity ?? '');
      // it sweeps 40 ± 50 degC over about two minutes: from NONE into MINOR (60) or MAJOR (80)
      await page.waitForFunction((sel) => (document.querySelector(sel) as HTMLElement)?.dataset.severity === 'NONE', { timeout: 60000 }, cell);
      await page.waitForFunction((sel) => ['MINOR', 'MAJOR'].includes((document.querySelector(sel) as HTMLElement)?.dataset.severity ?? ''), { timeout: 60000 }, cell);
      const s = await sev();
      const shown = Number(await text(cell));
      if (s === 'MAJOR') assert.ok(shown >= 80 || shown <= 0, `MAJOR at ${shown}`);
      else assert.ok((shown >= 60 && shown < 80) || (shown <= 10 && shown > 0), `MINOR at ${shown}`);
      const style = await page.$eval(cell, (e) => {
        const c = getComputedStyle(e);
        return { color: c.color, shadow: c.boxShadow };
      });
      const edge = s === 'MAJOR' ? 'rgb(255, 0, 0)' : 'rgb(255, 128, 0)';
      assert.ok(style.shadow.includes(edge), `${s}: the ${edge} edge in ${style.shadow}`);
      assert.notEqual(style.color, 'rgb(29, 31, 33)', 'alarm text colour');
      await shot('3-alarm');
    });

    test('the strip chart draws the variables picked', async () => {
      await page.click(`${row('Demo.Environment.Temperature')} input.plot-toggle`);
      await page.click(`${row('Demo.Fpga.Uptime')} input.plot-toggle`);
      await page.waitForSelector('#chart canvas', { timeout: 10000 });
      await page.waitForFunction(() => {
        const c = (window as unknown as { pvtree: { chart: { xs: number[]; ys: (number | null)[][] } } }).pvtree.chart;
        return c.xs.length > 20 && c.ys.every((y) => y.filter((v) => v !== null).length > 10);
      }, { timeout: 15000 });
      // the plot's pixels: enough of each trace's colour (#1f77b4 and #d62728)
      // (a string: the test's compiler would wrap a nested function in a helper the page lacks)
      const counts = (await page.evaluate(`(() => {
        const c = document.querySelector('#chart canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const near = (i, r, g, b) => Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40 && d[i + 3] > 100;
        let a = 0, b = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (near(i, 31, 119, 180)) a++;
          else if (near(i, 214, 39, 40)) b++;
        }
        return [a, b];
      })()`)) as number[];
      assert.ok(counts[0] > 30 && counts[1] > 30, `trace pixels ${counts}`);
      const legend = await page.$$eval('#chart .u-legend .u-series th', (ths) => ths.map((t) => t.textContent));
      assert.ok(legend.some((l) => l?.includes('Demo.Environment.Temperature')), `legend ${legend}`);
      await shot('4-chart');
    });

    test('the filter box, the hidden toggle and copying a PV name', async () => {
      await page.type('#filter', 'temp');
      await page.waitForFunction(() => {
        const shown = [...document.querySelectorAll('tr.variable')].filter((r) => !(r as HTMLElement).hidden).map((r) => (r as HTMLElement).dataset.path);
        return shown.length === 2 && shown.includes('Demo.Environment.Temperature') && shown.includes('Demo.Environment.TemperatureF');
      }, { timeout: 5000 });
      assert.equal(await page.$eval(row('Demo.Environment'), (e) => (e as HTMLElement).hidden), false, 'the device of a match shows');
      assert.equal(await page.$eval(row('Demo.Fpga'), (e) => (e as HTMLElement).hidden), true);
      await page.click('#filter', { count: 3 });
      await page.keyboard.press('Backspace');
      assert.equal(await page.$eval(row('Demo.SystemLog'), (e) => (e as HTMLElement).hidden), true, 'hidden nodes stay hidden');
      await page.click('#show-hidden');
      await page.waitForFunction((sel) => !(document.querySelector(sel) as HTMLElement).hidden, { timeout: 5000 }, row('Demo.SystemLog'));
      await page.click('#show-hidden');

      if (b.name === 'chromium') {
        const ctx = browser.defaultBrowserContext();
        await ctx.overridePermissions(new URL(web.url).origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
        await page.click(`${row('Demo.Environment.FanSpeed')} button.copy`);
        const clip = await page.evaluate(() => navigator.clipboard.readText());
        assert.equal(clip, 'pvtree:Demo:Environment:FanSpeed');
      } else {
        await page.click(`${row('Demo.Environment.FanSpeed')} button.copy`);
      }
      await page.waitForFunction(() => document.querySelector('#toast')?.textContent === 'copied pvtree:Demo:Environment:FanSpeed', { timeout: 5000 });
      assert.deepEqual(errors, [], 'no errors in the page');
    });

    test('when the server goes away every value keeps its last value in the disconnected style', async () => {
      await web.stop();
      await page.waitForSelector('#conn[data-state="disconnected"]', { timeout: 10000 });
      const style = await page.$eval(`${row('Demo.Fpga.Uptime')} td.value`, (e) => {
        const c = getComputedStyle(e);
        return `${c.outlineStyle} ${c.outlineColor}`;
      });
      assert.equal(style, 'dashed rgb(200, 0, 200)');
      assert.match(await text(`${row('Demo.Fpga.Uptime')} td.value`), /^\d+$/, 'the last value stays');
      await shot('5-disconnected');
    });
  });
}
