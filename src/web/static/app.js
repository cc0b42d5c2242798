// The page: loads the served tree, connects the pvws web socket and wires the tree view, the strip
// chart, the array plot and the SystemLog panel together.
import { PvwsClient } from './pvws-client.js';
import { TreeView } from './tree-view.js';
import { StripChart } from './strip-chart.js';
import { ArrayPlot } from './array-plot.js';
import { SystemLogView } from './system-log.js';

const $ = (id) => document.getElementById(id);

let toastTimer = 0;
function notify(message, isError = false) {
  const t = $('toast');
  t.textContent = message;
  t.className = isError ? 'show error' : 'show';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.className = ''), isError ? 6000 : 2000);
}

function findNode(node, path) {
  if (node.path === path) return node;
  for (const c of node.children || []) {
    const f = findNode(c, path);
    if (f) return f;
  }
  return undefined;
}

async function main() {
  const res = await fetch('api/tree');
  if (!res.ok) throw new Error(`api/tree: ${res.status}`);
  const tree = await res.json();
  document.title = `${tree.root} · pvtree`;
  $('title').textContent = tree.root;
  if (tree.tree.description) $('title').title = tree.tree.description;
  $('readonly').hidden = !tree.readOnly;

  const url = new URL('pvws/pv', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const conn = $('conn');
  const client = new PvwsClient(url.href, {
    onState(up) {
      conn.dataset.state = up ? 'connected' : 'disconnected';
      conn.textContent = up ? 'live' : 'disconnected, retrying…';
      document.body.classList.toggle('offline', !up);
    },
    onError(m) {
      notify(m.message, true);
    },
  });

  let view;
  const chart = new StripChart($('chart'), client, (pvs) => {
    view?.chartChanged(pvs);
    $('chart-empty').hidden = pvs.length > 0;
    $('chart-tools').hidden = pvs.length === 0;
  });
  const arrays = new ArrayPlot($('array-panel'), $('array-plot'), $('array-name'), client);
  $('array-close').addEventListener('click', () => arrays.hide());
  const ctx = { client, readOnly: tree.readOnly, notify, chart, showArray: (pv, label) => arrays.show(pv, label) };
  view = new TreeView($('tree').tBodies[0], tree, ctx);

  $('filter').addEventListener('input', (e) => view.setFilter(e.target.value));
  $('show-hidden').addEventListener('change', (e) => view.setShowHidden(e.target.checked));
  $('expand-all').addEventListener('click', () => view.setAll(true));
  $('collapse-all').addEventListener('click', () => view.setAll(false));
  $('chart-window').addEventListener('change', (e) => chart.setWindow(Number(e.target.value)));
  $('chart-clear').addEventListener('click', () => chart.clear());
  $('chart-pause').addEventListener('click', (e) => {
    chart.paused = !chart.paused;
    e.target.textContent = chart.paused ? 'Resume' : 'Pause';
  });

  if (tree.systemLog) {
    $('log-panel').hidden = false;
    new SystemLogView($('log'), $('log-count'), client, tree.systemLog);
    const clear = findNode(tree.tree, `${tree.root}.ClearLog`);
    const button = $('log-clear');
    if (clear && !tree.readOnly) {
      button.hidden = false;
      button.addEventListener('click', () => client.call(clear.pv).catch((e) => notify(e.message, true)));
    }
  }
  client.open();
  // for scripts and tests driving the page
  window.pvtree = { client, view, chart, arrays, tree };
}

main().catch((e) => {
  $('conn').dataset.state = 'disconnected';
  $('conn').textContent = `failed: ${e.message}`;
  console.error(e);
});
