// The dashboard's controller: one state object, the actions the views call,
// loading and periodic refresh. Views only read the state and call actions.
//
// A view is {element, update(state)}: createX(actions) builds it, it goes in the
// `views` list below (and its element in the layout), and update(state) is called
// after every change, while the phase is 'ready'. A view must cope with any state
// (hide itself when it has nothing to show) and must not change the state itself.
// The state a view reads (the same object every time; never keep parts of it):
//   run, runInfo (the runs route's entry), table (shape.decodeTable of gradient_flow),
//   activations (the same shape, or null), alerts ({alerts, byLayer, omitted}),
//   stat, log, range ('robust' | 'full' | 'layer'), filter and visible (the table's layer
//   indices the filter keeps, in flow order: every view shows only those),
//   stepIndex (into table.steps: the one step selection), layerIndex (into table.layers:
//   the one layer selection), zoom ({from, to} step numbers or null: the step range the
//   step views show), compare (more runs shown beside `run`, see compare.js), version
//   (bumped whenever table is replaced: a key for caches), collapsed (the layer tree's
//   collapsed group prefixes; choosing a layer opens the groups that hold it).
// Actions: selectStep(index), moveStep(delta), selectLayer(index), selectCell(layer, step),
//   selectRun(run), setStat, setLog, setRange, setFilter, setPair, setZoom, setCompare,
//   setCollapsed(prefixes), jumpToAlert, reload.
// The URL mirrors run, compare, stat, step, layer, filter, log, range, zoom and collapsed
// (url_state.js).

import { ApiError, getActivations, getAlerts, getGradientFlow, getRuns, getTensorBoardRuns } from './api.js';
import { h, replaceChildren } from './dom.js';
import {
  GRADIENT_STATS,
  appendSteps,
  canAppend,
  decodeAlerts,
  decodeTable,
  filterLayers,
  nearestStepIndex,
  neededStats,
  openingStepIndex,
  runProblems,
  runSignature,
  sameColumns,
  samplingNotes,
} from './shape.js';
import { createAttention } from './views_attention.js';
import { createComparison } from './views_compare.js';
import { createBarChart } from './views_bars.js';
import { createLayerDetail } from './views_detail.js';
import { createEmbedding } from './views_embedding.js';
import { createGradCam } from './views_gradcam.js';
import { createHeatmap } from './views_heatmap.js';
import { createAlerts, createLayerList } from './views_sidebar.js';
import { createExportMenu } from './views_export.js';
import { createToolbar } from './views_toolbar.js';
import { createWeights } from './views_weights.js';
import { RANGE_MODES } from './range.js';
import { createUrlStore, decodeView, encodeView } from './url_state.js';
import { revealLayer } from './layer_tree.js';

const REFRESH_MS = 15000;
const IDLE_POLLS_BEFORE_PAUSE = 20;
const MAX_STEPS = 500;
const URL_WRITE_MS = 120;
const NO_ALERTS = Object.freeze({ alerts: [], byLayer: new Map(), omitted: 0 });

/** Create the dashboard inside `root` and start loading. Returns the controller. */
export function createApp(root, { refreshMs = REFRESH_MS } = {}) {
  const state = {
    phase: 'loading',
    runs: [],
    run: null,
    pendingRun: null,
    runInfo: null,
    table: null,
    activations: null,
    columns: GRADIENT_STATS,
    alerts: NO_ALERTS,
    stat: 'grad_l2',
    pendingStat: null,
    log: true,
    stepIndex: 0,
    layerIndex: null,
    pair: false,
    filter: '',
    visible: [],
    range: 'robust',
    compare: [],
    compareTables: [],
    zoom: null,
    collapsed: [],
    runOrder: null,
    notice: '',
    notes: [],
    refreshNote: '',
    version: 0,
  };
  // The view a link or a reload asked for (url_state.js): applied once its run is loaded.
  const store = createUrlStore(window);
  let restore = decodeView(store.read());
  if (restore.stat) state.stat = restore.stat;
  if (typeof restore.filter === 'string') state.filter = restore.filter;
  if (typeof restore.log === 'boolean') state.log = restore.log;
  if (RANGE_MODES.includes(restore.range)) state.range = restore.range;
  if (Array.isArray(restore.compare)) state.compare = restore.compare;
  if (restore.zoom) state.zoom = restore.zoom;
  if (Array.isArray(restore.collapsed)) state.collapsed = restore.collapsed;
  let followLatest = true;
  let loading = 0;
  let timer = null;
  let idlePolls = 0;
  let lastLoadMs = 0;
  // The `sampling` entry of the run (runs route) when its tables were last loaded in full or
  // appended to: what a refresh compares against to decide whether appending is safe.
  let loadedSampling = {};
  const columnsByRun = new Map();

  const actions = {
    selectRun: (run) => loadRun(run),
    setStat: (stat) => showColumns({ stat, pair: state.pair }),
    setLog: (log) => set({ log }),
    setPair: (pair) => showColumns({ stat: state.stat, pair }),
    setFilter: (filter) => set({ filter }),
    setRange: (range) => set({ range }),
    setCompare: (runs) => setCompare(runs),
    setCollapsed: (prefixes) => set({ collapsed: [...new Set(prefixes)] }),
    // A step range {from, to} (step numbers, inclusive) the step views show, or null for all.
    setZoom: (zoom) => set({ zoom: zoom && zoom.to > zoom.from ? { from: zoom.from, to: zoom.to } : null }),
    selectStep: (stepIndex) => selectStep(stepIndex),
    moveStep: (delta) => selectStep(state.stepIndex + delta),
    selectLayer: (layerIndex) => set({ layerIndex, notice: '' }),
    selectCell: (layerIndex, stepIndex) => {
      followLatest = state.table && stepIndex === state.table.steps.length - 1;
      set({ layerIndex, stepIndex, notice: '' });
    },
    jumpToAlert: (alert) => jumpToAlert(alert),
    reload: () => reload(),
  };

  const exportMenu = createExportMenu(() => state);
  const toolbar = createToolbar(actions, [exportMenu.element]);
  const status = h('div', { class: 'status', attrs: { role: 'status', 'aria-live': 'polite' } });
  const heatmap = createHeatmap(actions);
  const bars = createBarChart(actions);
  const detail = createLayerDetail(actions);
  const attention = createAttention(actions);
  const comparison = createComparison(actions);
  const gradcam = createGradCam(actions);
  const weights = createWeights();
  const embedding = createEmbedding();
  const alerts = createAlerts(actions);
  const layers = createLayerList(actions);
  const main = h(
    'main',
    { class: 'layout' },
    h('aside', { class: 'sidebar' }, alerts.element, layers.element),
    h(
      'div',
      { class: 'content' },
      comparison.element,
      heatmap.element,
      bars.element,
      detail.element,
      attention.element,
      gradcam.element,
      weights.element,
      embedding.element,
    ),
  );
  replaceChildren(root, toolbar.element, status, main);
  // The sticky sidebar starts below the sticky toolbar, which wraps on narrow windows.
  if (window.ResizeObserver) {
    new ResizeObserver(() => {
      document.documentElement.style.setProperty('--toolbar-height', `${toolbar.element.offsetHeight + 8}px`);
    }).observe(toolbar.element);
  }
  const views = [
    toolbar,
    exportMenu,
    comparison,
    heatmap,
    bars,
    detail,
    attention,
    gradcam,
    weights,
    embedding,
    alerts,
    layers,
  ];

  function set(changes) {
    const chosen = 'layerIndex' in changes && changes.layerIndex !== state.layerIndex;
    Object.assign(state, changes);
    if (chosen && state.table)
      state.collapsed = revealLayer(state.collapsed, state.table.layers[state.layerIndex]);
    render();
  }

  function selectStep(stepIndex) {
    if (!state.table || !state.table.steps.length) return;
    const last = state.table.steps.length - 1;
    const clamped = Math.max(0, Math.min(last, stepIndex));
    followLatest = clamped === last;
    set({ stepIndex: clamped, notice: '' });
  }

  function render() {
    state.visible = state.table ? filterLayers(state.table.layers, state.filter) : [];
    state.notes = [
      ...runProblems(state.runInfo),
      ...samplingNotes(state.runInfo, state.table),
      ...(state.notice ? [state.notice] : []),
    ];
    main.hidden = state.phase !== 'ready';
    document.body.dataset.netvizPhase = state.phase;
    const failed = [];
    for (const view of views) {
      if (view !== toolbar && state.phase !== 'ready') continue;
      // One view failing on odd data must not blank the others.
      try {
        view.update(state);
      } catch (error) {
        failed.push(error);
      }
    }
    if (state.phase === 'ready') scheduleUrlWrite();
    if (failed.length) {
      console.error('netviz: a view could not be drawn', ...failed);
      toolbar.update({
        ...state,
        notes: [...state.notes, `A view could not be drawn: ${failed[0].message}`],
      });
    }
  }

  // Written a moment after the last change: browsers throttle (and Safari refuses) many
  // history updates a second, as a held arrow key would make.
  let urlTimer = null;
  function scheduleUrlWrite() {
    if (urlTimer) clearTimeout(urlTimer);
    urlTimer = setTimeout(() => {
      urlTimer = null;
      try {
        store.write(encodeView(shownView()));
      } catch (error) {
        console.warn('netviz: the view could not be put in the URL', error);
      }
    }, URL_WRITE_MS);
  }

  // What the URL holds: the shown run, statistic, step and layer (by name), filter and scales.
  function shownView() {
    const table = state.table;
    return {
      run: state.run,
      compare: state.compare,
      stat: state.stat,
      step: table && table.steps.length ? table.steps[state.stepIndex] : null,
      layer: table && state.layerIndex !== null ? (table.layers[state.layerIndex] ?? null) : null,
      filter: state.filter,
      log: state.log,
      range: state.range,
      zoom: state.zoom,
      collapsed: state.collapsed,
    };
  }

  function showStatus(phase, title, lines = [], action = null) {
    state.phase = phase;
    status.className = `status status-${phase}`;
    replaceChildren(
      status,
      title ? h('p', { class: 'status-title', text: title }) : null,
      lines.map((line) => (line instanceof Node ? line : h('p', { text: line }))),
      action
        ? h('button', {
            text: action.label,
            attrs: { type: 'button' },
            on: { click: action.run },
          })
        : null,
    );
    status.hidden = !title;
    render();
  }

  function showError(error, what) {
    const lines = [
      error instanceof ApiError
        ? `${what}: ${error.message} (${error.status || 'no answer'})`
        : `${what}: ${error.message}`,
    ];
    if (error instanceof ApiError && error.status === 0)
      lines.push('Check that TensorBoard is still running, then press Retry.');
    showStatus('error', 'Something went wrong', lines, { label: 'Retry', run: reload });
  }

  async function reload() {
    idlePolls = 0;
    startTimer();
    await loadRuns(true);
  }

  async function loadRuns(reloadRun) {
    showStatus('loading', 'Loading runs…');
    let answer;
    try {
      answer = await getRuns();
    } catch (error) {
      showError(error, 'Could not list the runs');
      return;
    }
    state.runs = Array.isArray(answer.runs) ? answer.runs : [];
    if (!state.runs.length) {
      showStatus(
        'empty',
        'No NetViz data in this log directory yet.',
        [
          'Add the NetViz callback to your training loop, for example:',
          h('pre', {
            text: 'from tb_netviz.keras import NetVizCallback   # or tb_netviz.torch\nmodel.fit(x, y, callbacks=[NetVizCallback(log_dir="runs/exp1", sample_batch=x[:8])])',
          }),
          'and point tensorboard --logdir at the same folder. This page looks for new data on its own for a few minutes; after that, press Reload.',
        ],
        { label: 'Reload', run: reload },
      );
      return;
    }
    const names = state.runs.map((r) => r.run);
    let run = names.includes(state.run) ? state.run : names[0];
    if (restore.run && !state.run) {
      if (names.includes(restore.run)) run = restore.run;
      else state.notice = `The linked run “${restore.run}” is not in this log directory; showing “${run}”.`;
    }
    if (reloadRun || run !== state.run) await loadRun(run);
  }

  async function loadRun(run, { quiet = false, refresh = false } = {}) {
    const ticket = ++loading;
    const runInfo = state.runs.find((r) => r.run === run) || null;
    const previous = {
      run: state.run,
      layer: state.table && state.layerIndex !== null ? state.table.layers[state.layerIndex] : null,
      step: state.table ? state.table.steps[state.stepIndex] : null,
    };
    // The views keep drawing the shown run until the new one is in: `run`, `runInfo` and
    // `table` always belong together; the toolbar shows the run asked for (`pendingRun`).
    state.pendingRun = run;
    if (!quiet) showStatus('loading', `Loading ${run}…`);
    if (!runInfo || !runInfo.gradient_flow) {
      Object.assign(state, { run, runInfo, table: null, pendingRun: null });
      showStatus(
        'empty',
        `Run “${run}” has no gradient statistics yet.`,
        [
          'The NetViz callback writes them at every logged step (log_every_n_steps). If training has just started, wait for the first logged step; this page refreshes on its own.',
        ],
        { label: 'Reload', run: reload },
      );
      return;
    }
    const sameRun = previous.run === run;
    let loaded;
    const started = performance.now();
    // The compared runs (and TensorBoard's run order, for their colours) load beside the
    // shown one, not after it.
    const columns = neededStats(state.pendingStat || state.stat, { pair: state.pair });
    for (const other of state.compare) if (other !== run) comparedEntry(other, columns);
    if (state.compare.some((other) => other !== run)) loadRunOrder();
    try {
      loaded = await loadTables(run, runInfo, { append: refresh && sameRun && state.phase === 'ready' });
    } catch (error) {
      if (ticket !== loading) return;
      Object.assign(state, { run, runInfo, table: null, pendingRun: null });
      showError(error, `Could not load run “${run}”`);
      return;
    }
    if (ticket !== loading) return;
    lastLoadMs = performance.now() - started;
    const { table, activations, alerts: alertList, stat } = loaded;
    loadedSampling = loaded.sampling;
    if (!table.steps.length || !table.layers.length) {
      Object.assign(state, { run, runInfo, table: null, pendingRun: null });
      showStatus(
        'empty',
        `Run “${run}” has no logged steps yet.`,
        ['Wait for the first logged training step, or press Reload.'],
        { label: 'Reload', run: reload },
      );
      return;
    }
    // A new run opens where there is something to see: a diverged run at the start of its
    // final non-finite stretch, not at an all-NaN last step.
    let stepIndex = sameRun ? table.steps.length - 1 : openingStepIndex(table, stat);
    if (sameRun && !followLatest && previous.step !== null)
      stepIndex = nearestStepIndex(table.steps, previous.step);
    let layerIndex = sameRun && previous.layer !== null ? table.layers.indexOf(previous.layer) : -1;
    if (layerIndex < 0) layerIndex = defaultLayer(table, alertList);
    if (!restore.run || restore.run === run) {
      if (Number.isInteger(restore.step)) stepIndex = nearestStepIndex(table.steps, restore.step);
      if (restore.layer !== undefined && table.layers.includes(restore.layer))
        layerIndex = table.layers.indexOf(restore.layer);
    }
    restore = {};
    if (!sameRun) followLatest = stepIndex === table.steps.length - 1;
    Object.assign(state, {
      run,
      runInfo,
      pendingRun: null,
      table,
      activations,
      alerts: alertList,
      columns: columnsByRun.get(run) || GRADIENT_STATS,
      stepIndex,
      layerIndex,
      stat,
      pendingStat: null,
      pair: state.pair && table.stats.includes('grad_max_abs'),
      version: state.version + 1,
    });
    if (!sameRun && previous.run !== null) state.notice = '';
    state.refreshNote = timer
      ? `auto-refresh on · updated ${new Date().toLocaleTimeString()}`
      : state.refreshNote;
    status.hidden = true;
    state.phase = 'ready';
    // Compared runs that are already in are drawn in this same render.
    state.compareTables = comparedTables();
    render();
    loadCompared();
  }

  // The run's tables with only the gradient columns the views show. On a refresh
  // (`append`), only the steps after the last one shown are fetched and appended,
  // unless appending could hide a change (see shape.canAppend / appendSteps).
  async function loadTables(run, runInfo, { append }) {
    const sampling = runInfo.sampling || {};
    const before = loadedSampling;
    const chosen = state.pendingStat || state.stat;
    const wanted = neededStats(chosen, { pair: state.pair });
    const alertsAnswer = getAlerts(run).catch(() => null);
    const columns = knownColumns(run, sampling);
    const activations = runInfo.activations
      ? loadActivations(run, append ? state.activations : null, before.activations, sampling.activations)
      : null;
    let table = null;
    if (append && sameColumns(state.table, wanted)) {
      const [shown, now] = [state.table, sampling.gradient_flow];
      table = await appendedTable(getGradientFlow, run, shown, before.gradient_flow, now);
    }
    let stat = chosen;
    if (!table) ({ table, stat } = await fullGradientFlow(run, chosen, state.pair));
    const [al, act] = await Promise.all([alertsAnswer, activations, columns]);
    return { table, activations: act, alerts: al ? decodeAlerts(al) : NO_ALERTS, stat, sampling };
  }

  // Activation statistics are optional: a failure leaves the detail panel without them.
  async function loadActivations(run, shown, before, now) {
    try {
      const appended = shown ? await appendedTable(getActivations, run, shown, before, now) : null;
      return appended || decodeTable(await getActivations(run, { maxSteps: MAX_STEPS }));
    } catch (ignored) {
      return null;
    }
  }

  // Fetch only the steps after `table`'s last and append them; null when the
  // whole table must be fetched again.
  async function appendedTable(fetchTable, run, table, before, now) {
    if (!canAppend(table, before, now, MAX_STEPS)) return null;
    const since = table.steps[table.steps.length - 1] + 1;
    const answer = await fetchTable(run, { maxSteps: MAX_STEPS, stats: table.stats, minStep: since });
    return appendSteps(table, decodeTable(answer), now);
  }

  // The whole gradient table of the columns `stat` (and the pair) need. A
  // statistic the run does not have falls back to the first column, grad_l2.
  async function fullGradientFlow(run, stat, pair) {
    try {
      const answer = await getGradientFlow(run, { maxSteps: MAX_STEPS, stats: neededStats(stat, { pair }) });
      return { table: decodeTable(answer), stat };
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 400) || stat === GRADIENT_STATS[0]) throw error;
      const answer = await getGradientFlow(run, { maxSteps: MAX_STEPS, stats: [GRADIENT_STATS[0]] });
      return { table: decodeTable(answer), stat: GRADIENT_STATS[0] };
    }
  }

  // The run's own column list (a newer writer may append columns), read once
  // per run from a one-step answer; the format's list until then.
  async function knownColumns(run, sampling) {
    if (columnsByRun.has(run)) return columnsByRun.get(run);
    const last = sampling.gradient_flow && sampling.gradient_flow.last_step;
    try {
      const bound = last ?? undefined;
      const answer = await getGradientFlow(run, { maxSteps: 1, minStep: bound, maxStep: bound });
      if (Array.isArray(answer.stats) && answer.stats.length) columnsByRun.set(run, answer.stats.map(String));
    } catch (ignored) {
      // The format's list stays in use; the views still work with it.
    }
    return columnsByRun.get(run) || GRADIENT_STATS;
  }

  // A statistic or the side-by-side pair was chosen: fetch the columns it needs
  // (only when the table lacks them) and redraw, keeping the layer and step.
  async function showColumns({ stat, pair }) {
    const table = state.table;
    if (!table || neededStats(stat, { pair }).every((s) => table.stats.includes(s))) {
      set({ stat, pair });
      loadCompared();
      return;
    }
    const ticket = ++loading;
    const run = state.run;
    const shownPair = state.pair;
    // The controls show the choice at once; the views change when its data is in.
    set({ pair, pendingStat: stat, refreshNote: `loading ${stat}…` });
    let loaded;
    try {
      loaded = await fullGradientFlow(run, stat, pair);
    } catch (error) {
      if (ticket === loading) {
        Object.assign(state, { pair: shownPair, pendingStat: null });
        showError(error, `Could not load ${stat} of run “${run}”`);
      }
      return;
    }
    if (ticket !== loading) return;
    const next = loaded.table;
    const layer = state.layerIndex !== null ? table.layers[state.layerIndex] : null;
    const layerIndex = layer !== null ? next.layers.indexOf(layer) : -1;
    loadedSampling = (state.runInfo && state.runInfo.sampling) || {};
    set({
      table: next,
      stat: loaded.stat,
      pair,
      stepIndex: Math.max(0, nearestStepIndex(next.steps, table.steps[state.stepIndex])),
      layerIndex: layerIndex >= 0 ? layerIndex : 0,
      pendingStat: null,
      version: state.version + 1,
      refreshNote: timer ? `auto-refresh on · updated ${new Date().toLocaleTimeString()}` : '',
    });
    loadCompared();
  }

  // Runs shown beside the primary one: the same columns, each fetched once per statistic and
  // run signature (a refresh that brings steps fetches again), loaded side by side.
  const comparedCache = new Map();
  function setCompare(runs) {
    const known = new Set(state.runs.map((r) => r.run));
    set({ compare: [...new Set(runs)].filter((run) => run !== state.run && known.has(run)) });
    loadCompared();
  }

  // The fetch of one compared run's table with the columns `stats` and grad_l2 (for the
  // ratio), shared by every caller that asks for the same run, columns and run signature.
  // `result` is set once it is in, so that a render can use it without waiting.
  function comparedEntry(run, stats) {
    const columns = [...new Set([...stats, 'grad_l2'])].sort();
    const info = state.runs.find((r) => r.run === run);
    const key = `${run}|${columns.join(',')}|${runSignature(info)}`;
    if (!info) {
      const result = { run, error: 'the run is no longer in the log directory' };
      return { run, key, promise: Promise.resolve(result), result };
    }
    if (!comparedCache.has(key)) {
      const entry = { run, key, result: null };
      entry.promise = getGradientFlow(run, { maxSteps: MAX_STEPS, stats: columns })
        .then((answer) => ({ run, table: decodeTable(answer) }))
        .catch((error) => {
          comparedCache.delete(key);
          return { run, error: error.message };
        })
        .then((result) => (entry.result = result));
      comparedCache.set(key, entry);
    }
    return comparedCache.get(key);
  }

  // What the comparison shows now: each compared run's table if it is in, the one shown
  // before while its new one loads, else a placeholder.
  function comparedTables() {
    if (!state.table) return [];
    return state.compare
      .filter((run) => run !== state.run)
      .map((run) => {
        const { result } = comparedEntry(run, state.table.stats);
        const shown = state.compareTables.find((t) => t.run === run && (t.table || t.loading));
        return result || shown || { run, loading: true };
      });
  }

  // TensorBoard's run order (its run colours follow it), fetched once; until it is in, the
  // plugin's. A redraw only when it differs.
  function loadRunOrder() {
    if (state.runOrder) return;
    const fallback = state.runs.map((r) => r.run);
    state.runOrder = fallback;
    const apply = (order) => {
      if (order.length !== state.runOrder.length || order.some((run, i) => run !== state.runOrder[i]))
        set({ runOrder: order });
    };
    getTensorBoardRuns()
      .then(apply)
      .catch(() => apply(fallback));
  }

  async function loadCompared() {
    const wanted = state.compare.filter((run) => run !== state.run);
    if (!state.table || !wanted.length) {
      if (state.compareTables.length) set({ compareTables: [] });
      return;
    }
    loadRunOrder();
    const entries = wanted.map((run) => comparedEntry(run, state.table.stats));
    const ticket = entries.map((e) => e.key).join('\n');
    comparing = ticket;
    const now = comparedTables();
    if (now.length !== state.compareTables.length || now.some((t, i) => t !== state.compareTables[i]))
      set({ compareTables: now });
    if (entries.every((e) => e.result)) return;
    const results = await Promise.all(entries.map((e) => e.promise));
    if (comparing !== ticket) return;
    set({ compareTables: results });
  }
  let comparing = '';

  // The layer of the latest alert is where a user wants to look first; else the first layer.
  function defaultLayer(table, alertList) {
    const latest = alertList.alerts[alertList.alerts.length - 1];
    const index = latest ? table.layers.indexOf(latest.layer) : -1;
    return index >= 0 ? index : 0;
  }

  function jumpToAlert(alert) {
    const table = state.table;
    if (!table) return;
    const layerIndex = table.layers.indexOf(alert.layer);
    const stepIndex = nearestStepIndex(table.steps, alert.step);
    const notes = [];
    if (table.steps[stepIndex] !== alert.step) {
      notes.push(
        `Step ${alert.step} was not kept by TensorBoard; showing the nearest kept step ${table.steps[stepIndex]}.`,
      );
    }
    if (layerIndex < 0) notes.push(`Layer “${alert.layer}” is not in the gradient statistics of this run.`);
    const filter =
      layerIndex >= 0 && !filterLayers(table.layers, state.filter).includes(layerIndex) ? '' : state.filter;
    followLatest = stepIndex === table.steps.length - 1;
    set({
      stepIndex,
      layerIndex: layerIndex >= 0 ? layerIndex : state.layerIndex,
      notice: notes.join(' '),
      filter,
    });
    const row = bars.element.querySelector('.bar-row.selected');
    if (row && row.scrollIntoView) row.scrollIntoView({ block: 'nearest' });
  }

  async function poll() {
    if (document.hidden || state.phase === 'loading') return;
    let answer;
    try {
      answer = await getRuns();
    } catch (error) {
      state.refreshNote = 'auto-refresh: TensorBoard did not answer; will retry';
      render();
      return;
    }
    const runs = Array.isArray(answer.runs) ? answer.runs : [];
    const before = state.runs.map((r) => `${r.run}:${runSignature(r)}`).join('\n');
    const after = runs.map((r) => `${r.run}:${runSignature(r)}`).join('\n');
    if (before === after) {
      idlePolls += 1;
      if (idlePolls >= IDLE_POLLS_BEFORE_PAUSE) {
        stopTimer();
        state.refreshNote = 'auto-refresh paused: nothing new for a while · press Reload to check again';
        render();
      }
      return;
    }
    idlePolls = 0;
    state.runs = runs;
    if (state.phase !== 'ready' || !runs.some((r) => r.run === state.run)) {
      await loadRuns(true);
      return;
    }
    await loadRun(state.run, { quiet: true, refresh: true });
  }

  // Polls are chained, not on a fixed interval: a run whose data takes long to
  // load is polled less often (never more than a tenth of the time spent loading).
  function startTimer() {
    if (timer || !(refreshMs > 0)) return;
    const next = () => {
      timer = setTimeout(
        async () => {
          await poll();
          if (timer) next();
        },
        Math.max(refreshMs, 10 * lastLoadMs),
      );
    };
    next();
  }

  function stopTimer() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  window.addEventListener('resize', () => {
    if (state.phase === 'ready') render();
  });

  // Stepping works anywhere in the tab: ← → move the step, Home / End go to the ends,
  // unless a control that uses those keys itself has them (a text box, a list, the heatmap).
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (state.phase !== 'ready' || !state.table) return;
    const target = event.target;
    const tag = target && target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || (target && target.isContentEditable))
      return;
    const last = state.table.steps.length - 1;
    const to = { ArrowLeft: state.stepIndex - 1, ArrowRight: state.stepIndex + 1, Home: 0, End: last }[
      event.key
    ];
    if (to === undefined) return;
    event.preventDefault();
    selectStep(to);
  });

  startTimer();
  loadRuns(true);
  return { state, actions, redraw: render, stop: stopTimer };
}
