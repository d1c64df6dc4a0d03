// The toolbar: run, statistic, log scale, step, reload, and the notes about sampling and refresh.

import { fillSelect, h, replaceChildren } from './dom.js';
import { RANGE_LABELS, RANGE_MODES } from './range.js';
import { MAGNITUDE_STATS, statLabel } from './shape.js';

const HIDDEN_STATS = new Set(['has_grad']);

/**
 * Build the toolbar; `actions` receives the user's choices, `extras` are more controls (elements)
 * placed before the reload button. Returns {element, update(state)}.
 */
export function createToolbar(actions, extras = []) {
  const run = h('select', {
    attrs: { id: 'nv-run', 'aria-label': 'Run' },
    on: { change: () => actions.selectRun(run.value) },
  });
  const stat = h('select', {
    attrs: { id: 'nv-stat', 'aria-label': 'Statistic' },
    on: { change: () => actions.setStat(stat.value) },
  });
  const log = h('input', {
    attrs: { id: 'nv-log', type: 'checkbox' },
    props: { checked: true },
    on: { change: () => actions.setLog(log.checked) },
  });
  const range = fillSelect(
    h('select', {
      attrs: { id: 'nv-range', 'aria-label': 'Colour range' },
      on: { change: () => actions.setRange(range.value) },
    }),
    RANGE_MODES.map((mode) => ({ value: mode, label: RANGE_LABELS[mode] })),
    'robust',
  );
  const logLabel = h('span', { text: 'Log scale' });
  // Runs to compare with the shown one: a checkbox per run, in a drop-down.
  const compareList = h('div', { class: 'compare-list', attrs: { id: 'nv-compare' } });
  const compareSummary = h('summary', { text: 'Compare runs' });
  const compare = h('details', { class: 'control compare-picker' }, compareSummary, compareList);
  compareList.addEventListener('change', () => {
    const runs = [...compareList.querySelectorAll('input:checked')].map((box) => box.dataset.run);
    actions.setCompare(runs);
  });
  const slider = h('input', {
    class: 'step-slider',
    attrs: { id: 'nv-step', type: 'range', min: 0, max: 0, step: 1, 'aria-label': 'Step' },
    on: { input: () => actions.selectStep(Number(slider.value)) },
  });
  const previous = h('button', {
    class: 'icon',
    text: '◀',
    attrs: { type: 'button', 'aria-label': 'Previous step' },
    on: { click: () => actions.moveStep(-1) },
  });
  const next = h('button', {
    class: 'icon',
    text: '▶',
    attrs: { type: 'button', 'aria-label': 'Next step' },
    on: { click: () => actions.moveStep(1) },
  });
  const stepLabel = h('output', { class: 'step-label', attrs: { for: 'nv-step', 'aria-live': 'polite' } });
  const reload = h('button', {
    class: 'reload',
    text: '⟳ Reload',
    attrs: { type: 'button', id: 'nv-reload' },
    on: { click: () => actions.reload() },
  });
  const refresh = h('span', { class: 'refresh-note muted', attrs: { 'aria-live': 'polite' } });
  const notes = h('div', { class: 'notes', attrs: { role: 'note' } });

  const element = h(
    'header',
    { class: 'toolbar' },
    h(
      'div',
      { class: 'controls' },
      h('label', { class: 'control' }, h('span', { text: 'Run' }), run),
      h('label', { class: 'control' }, h('span', { text: 'Statistic' }), stat),
      h('label', { class: 'control checkbox' }, log, logLabel),
      h('label', { class: 'control' }, h('span', { text: 'Colours' }), range),
      compare,
      extras,
      h(
        'div',
        { class: 'control step' },
        h('label', { text: 'Step', attrs: { for: 'nv-step' } }),
        previous,
        slider,
        next,
        stepLabel,
      ),
      h('div', { class: 'control push' }, refresh, reload),
    ),
    notes,
  );

  let shownRuns = null;
  let shownCompare = '';
  let shownStats = null;

  function update(state) {
    const runNames = state.runs.map((r) => r.run);
    if (JSON.stringify(runNames) !== shownRuns) {
      fillSelect(
        run,
        runNames.map((name) => ({ value: name, label: name })),
        state.pendingRun || state.run,
      );
      shownRuns = JSON.stringify(runNames);
    }
    run.value = state.pendingRun || state.run || '';
    const primary = state.pendingRun || state.run;
    const compareKey = JSON.stringify([runNames, primary, state.compare]);
    if (compareKey !== shownCompare) {
      shownCompare = compareKey;
      replaceChildren(
        compareList,
        runNames
          .filter((name) => name !== primary)
          .map((name) =>
            h(
              'label',
              { class: 'control checkbox' },
              h('input', {
                attrs: { type: 'checkbox', 'data-run': name },
                props: { checked: (state.compare || []).includes(name) },
              }),
              h('span', { text: name }),
            ),
          ),
        runNames.length < 2 ? h('p', { class: 'muted', text: 'Only one run in this log directory.' }) : null,
      );
    }
    const count = (state.compare || []).filter((name) => name !== primary).length;
    compareSummary.textContent = count ? `Compare runs (${count})` : 'Compare runs';
    run.disabled = runNames.length === 0;
    // Every column of the run is offered; the dashboard fetches one when it is chosen.
    const stats = state.table ? (state.columns || state.table.stats).filter((s) => !HIDDEN_STATS.has(s)) : [];
    if (JSON.stringify(stats) !== shownStats) {
      fillSelect(
        stat,
        stats.map((s) => ({ value: s, label: `${s} — ${statLabel(s)}` })),
        state.stat,
      );
      shownStats = JSON.stringify(stats);
    }
    stat.value = state.pendingStat || state.stat;
    stat.disabled = stats.length === 0;
    // A log axis means something only for magnitudes: for counts and signed values the box is off.
    const shownStat = state.pendingStat || state.stat;
    const magnitude = MAGNITUDE_STATS.has(shownStat);
    log.checked = state.log && magnitude;
    log.disabled = !magnitude;
    log.title = magnitude ? '' : `${shownStat} is drawn on a linear axis (it is not a magnitude)`;
    logLabel.textContent = magnitude ? 'Log scale' : 'Log scale (n/a)';
    range.value = state.range || 'robust';
    const steps = state.table ? state.table.steps : [];
    slider.max = String(Math.max(0, steps.length - 1));
    slider.value = String(state.stepIndex);
    slider.disabled = previous.disabled = next.disabled = steps.length === 0;
    const current = steps.length ? steps[state.stepIndex] : null;
    stepLabel.textContent = current === null ? '—' : `${current}  (${state.stepIndex + 1}/${steps.length})`;
    slider.setAttribute('aria-valuetext', current === null ? 'no steps' : `step ${current}`);
    refresh.textContent = state.refreshNote || '';
    replaceChildren(
      notes,
      (state.notes || []).map((note) => h('p', { text: note })),
    );
  }

  return { element, update };
}
