// Exporting what the dashboard shows: the data of the current view as CSV or JSON
// (one statistic, the layers the filter keeps, the steps the zoom keeps), with the
// route's encoding of the special values, and safe file names. Pure: no DOM.

import { KIND, cellKind, cellValue, statIndex } from './shape.js';

/**
 * A file name from parts that may hold anything a model or a user typed: every run of
 * characters other than letters, digits, `.`, `_` and `-` becomes one `_`.
 * @example fileName(['<img src=x>', 'grad_l2'], 'csv') === '_img_src_x_-grad_l2.csv'
 */
export function fileName(parts, extension) {
  const safe = parts
    .map((part) =>
      String(part)
        .replace(/[^A-Za-z0-9._-]+/g, '_')
        .replace(/^\.+/, '_'),
    )
    .filter(Boolean)
    .join('-');
  return `${safe.slice(0, 150) || 'netviz'}.${extension}`;
}

/**
 * The data of one statistic over `layers` (table indices) and the table steps
 * `first`..`last`: {run, stat, layers, steps, values[step][layer]} where a value is a
 * number, "NaN", "Infinity", "-Infinity" or null (no gradient), as the routes send them.
 */
export function viewData(table, stat, layers, [first, last] = [0, table.steps.length - 1]) {
  const k = statIndex(table, stat);
  if (k < 0) throw new RangeError(`statistic "${stat}" is not in this run`);
  const steps = table.steps.slice(first, last + 1);
  const values = steps.map((_, n) =>
    layers.map((j) => {
      const i = first + n;
      if (cellKind(table, i, j, k) === KIND.NONE) return null;
      return encodeNumber(cellValue(table, i, j, k));
    }),
  );
  return { run: table.run, stat, layers: layers.map((j) => table.layers[j]), steps, values };
}

function encodeNumber(v) {
  if (v === null) return null;
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

/**
 * viewData as CSV: a `step` column, then one column per layer (names quoted as RFC 4180
 * asks), one row per step; no gradient is an empty cell.
 * @example toCsv({layers: ['a,b'], steps: [0], values: [[1.5]]}) === 'step,"a,b"\r\n0,1.5\r\n'
 */
export function toCsv(data) {
  const lines = [['step', ...data.layers].map(csvField).join(',')];
  data.steps.forEach((step, n) => {
    lines.push([step, ...data.values[n]].map((v) => (v === null ? '' : csvField(v))).join(','));
  });
  return `${lines.join('\r\n')}\r\n`;
}

function csvField(value) {
  const text = String(value);
  // A leading = + - @ would make a spreadsheet run the cell as a formula; numbers pass as they are.
  const guarded = typeof value === 'string' && /^[=+\-@]/.test(text) && !/^-?(\d|Infinity)/.test(text);
  const safe = guarded ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
