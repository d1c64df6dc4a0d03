// The view in the URL: runs, statistic, step, layer, filter, scales, zoom and the layer
// tree's collapsed groups, so that a reload or a pasted link reopens the same view.
//
// Inside TensorBoard the page a user sees, reloads and copies is TensorBoard's
// (`…/#netviz`), not the plugin iframe's. TensorBoard keeps extra `&key=value`
// parts after its tab name in the hash across a reload and opens the tab a pasted
// `#netviz&…` link names, so the view goes there as one parameter, `nv`. Opened on its
// own (data/plugin_entry.html?name=netviz), the iframe's own hash holds it. Writes
// use history.replaceState: no navigation, no history entry per step, no event that
// TensorBoard's router would act on.

/** The hash parameter of TensorBoard's page that holds the NetViz view. */
export const PARAM = 'nv';

const KEYS = ['run', 'compare', 'stat', 'step', 'layer', 'filter', 'log', 'range', 'zoom', 'collapsed'];

/**
 * The view as URL text (a query string). Empty and default parts are left out.
 * @example encodeView({run: 'exp 1', stat: 'grad_l2', step: 40, log: false}) === 'run=exp+1&stat=grad_l2&step=40&log=0'
 */
export function encodeView(view) {
  const query = new URLSearchParams();
  if (view.run) query.set('run', view.run);
  if (view.compare && view.compare.length) query.set('compare', JSON.stringify(view.compare));
  if (view.stat) query.set('stat', view.stat);
  if (Number.isInteger(view.step)) query.set('step', String(view.step));
  if (view.layer !== null && view.layer !== undefined) query.set('layer', view.layer);
  if (view.filter) query.set('filter', view.filter);
  if (view.log === false) query.set('log', '0');
  if (view.range && view.range !== 'robust') query.set('range', view.range);
  if (view.zoom) query.set('zoom', `${view.zoom.from}-${view.zoom.to}`);
  if (view.collapsed && view.collapsed.length) query.set('collapsed', JSON.stringify(view.collapsed));
  return query.toString();
}

/**
 * The view a URL text names; parts that are missing or malformed are left out
 * (the dashboard's defaults then apply), unknown parts are ignored.
 * @example decodeView('run=exp+1&step=40&log=0') // {run: 'exp 1', step: 40, log: false}
 */
export function decodeView(text) {
  const query = new URLSearchParams(String(text || '').replace(/^[#?]/, ''));
  const view = {};
  for (const key of KEYS) {
    const raw = query.get(key);
    if (raw === null) continue;
    if (key === 'step') {
      if (/^-?\d+$/.test(raw)) view.step = Number(raw);
    } else if (key === 'log') {
      if (raw === '0' || raw === '1') view.log = raw === '1';
    } else if (key === 'zoom') {
      const match = /^(-?\d+)-(-?\d+)$/.exec(raw);
      if (match && Number(match[2]) > Number(match[1]))
        view.zoom = { from: Number(match[1]), to: Number(match[2]) };
    } else if (key === 'compare' || key === 'collapsed') {
      const list = parseList(raw);
      if (list) view[key] = list;
    } else {
      view[key] = raw;
    }
  }
  return view;
}

function parseList(raw) {
  try {
    const list = JSON.parse(raw);
    return Array.isArray(list) && list.every((x) => typeof x === 'string') ? list : null;
  } catch {
    return null;
  }
}

/**
 * Where the view lives: TensorBoard's page hash (`#netviz&nv=…`) when the dashboard is
 * in TensorBoard's NetViz iframe, else the window's own hash. Returns {read(), write(text)}.
 */
export function createUrlStore(win = window) {
  const host = tensorBoardPage(win);
  if (host) {
    return {
      read: () => hashParams(host.location.hash).get(PARAM) || '',
      write: (text) => {
        const params = hashParams(host.location.hash);
        const tab = host.location.hash.replace(/^#/, '').split('&')[0];
        const rest = [...params].filter(([key]) => key !== PARAM);
        const parts = [tab, ...rest.map(([k, v]) => `${k}=${encodeURIComponent(v)}`)];
        if (text) parts.push(`${PARAM}=${encodeURIComponent(text)}`);
        const hash = `#${parts.join('&')}`;
        if (hash !== host.location.hash) host.history.replaceState(host.history.state, '', hash);
      },
    };
  }
  return {
    read: () => win.location.hash.replace(/^#/, ''),
    write: (text) => {
      const hash = text ? `#${text}` : '';
      if (hash !== win.location.hash) {
        const { pathname, search } = win.location;
        win.history.replaceState(win.history.state, '', `${pathname}${search}${hash}`);
      }
    },
  };
}

// TensorBoard's page, when this window is its NetViz tab's iframe (same origin) and the
// page's hash names that tab; null otherwise.
function tensorBoardPage(win) {
  try {
    if (win.parent === win) return null;
    const parent = win.parent;
    const tab = parent.location.hash.replace(/^#/, '').split('&')[0];
    return tab === 'netviz' ? parent : null;
  } catch {
    return null; // another origin: not TensorBoard's page
  }
}

// The `key=value` parts after the tab name in TensorBoard's hash.
function hashParams(hash) {
  const parts = hash.replace(/^#/, '').split('&').slice(1);
  return new URLSearchParams(parts.join('&'));
}
