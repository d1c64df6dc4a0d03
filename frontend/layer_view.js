// What the views of one layer over the run's kept steps (Grad-CAM, weights, embedding)
// share: the layer select filled from a list in the run's info, telling another run or a
// new layer list (reload) from a move of the dashboard's step (follow), the kept step shown
// for the dashboard's selected step, and the caption of that step. The pure parts are
// tested apart (tests/frontend/layer_view.test.mjs). Layer names are inserted as text.

import { fillSelect, h } from './dom.js';
import { nearestStepIndex } from './shape.js';

/**
 * The step selected in the dashboard, or undefined before its table is loaded.
 * @example selectedStep({ table: { steps: [0, 10] }, stepIndex: 1 }) === 10
 */
export function selectedStep(state) {
  return state.table ? state.table.steps[state.stepIndex] : undefined;
}

/**
 * The kept step shown for the dashboard's selected step: the one nearest to it, the last
 * when nothing is selected yet; null when the layer has no kept step.
 * @example shownStep([0, 100, 200], 130) === 100
 */
export function shownStep(steps, selected) {
  const i = nearestStepIndex(steps, selected ?? steps[steps.length - 1]);
  return i < 0 ? null : steps[i];
}

/**
 * The kept step `delta` places after `current` (clamped), for step buttons and playing.
 * @example stepAfter([0, 100, 200], 100, 1) === 200
 */
export function stepAfter(steps, current, delta) {
  const i = Math.max(0, steps.indexOf(current));
  return steps[Math.min(steps.length - 1, Math.max(0, i + delta))];
}

/**
 * The caption of the step shown, saying when it is only the nearest kept to the selected one.
 * @example stepCaption(200, 230) === 'step 200 (nearest to step 230)'
 */
export function stepCaption(shown, selected) {
  return selected !== undefined && selected !== null && selected !== shown
    ? `step ${shown} (nearest to step ${selected})`
    : `step ${shown}`;
}

/**
 * The layer to select after the run's list changed: the one selected before when the list
 * still has it, else its first or last entry (`end` is 'first' or 'last').
 * @example keptLayer(['a', 'b', 'c'], 'x', 'last') === 'c'
 */
export function keptLayer(layers, current, end) {
  if (layers.includes(current)) return current;
  return end === 'first' ? layers[0] : layers[layers.length - 1];
}

/**
 * What an update of the dashboard means for a layer view that last saw `seen` (null at
 * first), given the run's `layers`: 'none' (no such layers: hide), 'run' (another run),
 * 'layers' (the same run with another layer list or newer data: reload), 'step' (only the
 * step may have moved). Returns {change, seen}, what to compare the next update with.
 * @example layerChange(null, { run: 'a', version: 1 }, ['fc']).change === 'run'
 */
export function layerChange(seen, state, layers) {
  if (!layers.length) return { change: 'none', seen: null };
  const next = { run: state.run, data: JSON.stringify([layers, state.version]) };
  if (!seen || seen.run !== next.run) return { change: 'run', seen: next };
  return { change: seen.data === next.data ? 'step' : 'layers', seen: next };
}

/**
 * The layer select of a view over the run-info list `field` (e.g. 'weight_layers'), with
 * `onSelect` called when the user picks a layer. `update(state)` refills it when the list
 * changed (keeping the selected layer, else the `end` one) and returns the `layerChange`.
 * Returns {select, update(state)}.
 */
export function createLayerSelect({ id, label, field, end, onSelect }) {
  const select = h('select', { attrs: { id, 'aria-label': label }, on: { change: () => onSelect() } });
  let seen = null;

  function update(state) {
    const layers = (state.runInfo && state.runInfo[field]) || [];
    const next = layerChange(seen, state, layers);
    seen = next.seen;
    if (next.change === 'run' || next.change === 'layers') {
      fillSelect(
        select,
        layers.map((name) => ({ value: name, label: name })),
        keptLayer(layers, select.value, end),
      );
    }
    return next.change;
  }

  return { select, update };
}
