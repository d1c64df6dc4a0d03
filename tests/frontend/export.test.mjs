// Specifications of the exported files (frontend/export.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fileName, toCsv, viewData } from '../../frontend/export.js';
import { decodeTable } from '../../frontend/shape.js';

const TABLE = decodeTable({
  run: 'exp',
  layers: ['a', 'b,"c"', 'd'],
  stats: ['grad_l2', 'has_grad'],
  steps: [0, 10, 20],
  values: [
    [
      [1.5, 1],
      [null, 0],
      ['NaN', 1],
    ],
    [
      [2.5, 1],
      [0.25, 1],
      ['Infinity', 1],
    ],
    [
      [3.5, 1],
      [0.5, 1],
      [-1, 1],
    ],
  ],
});

test('the view data keeps the route encoding of NaN, infinities and no gradient', () => {
  const data = viewData(TABLE, 'grad_l2', [0, 1, 2], [0, 1]);
  assert.deepEqual(data.steps, [0, 10]);
  assert.deepEqual(data.layers, ['a', 'b,"c"', 'd']);
  assert.deepEqual(data.values, [
    [1.5, null, 'NaN'],
    [2.5, 0.25, 'Infinity'],
  ]);
});

test('CSV quotes names with commas and quotes, leaves no gradient empty', () => {
  const csv = toCsv(viewData(TABLE, 'grad_l2', [0, 1], [0, 0]));
  assert.equal(csv, 'step,a,"b,""c"""\r\n0,1.5,\r\n');
});

test('CSV never starts a cell with a spreadsheet formula', () => {
  const csv = toCsv({ layers: ['=HYPERLINK("x")', '-1'], steps: [0], values: [[-2, '-Infinity']] });
  assert.equal(csv, `step,"'=HYPERLINK(""x"")",-1\r\n0,-2,-Infinity\r\n`);
});

test('file names keep only letters, digits, dot, dash and underscore', () => {
  assert.equal(
    fileName(['<img src=x onerror=alert(1)>', 'grad_l2', 'step10'], 'csv'),
    '_img_src_x_onerror_alert_1_-grad_l2-step10.csv',
  );
  assert.equal(fileName(['../../etc/passwd'], 'json'), '__.._etc_passwd.json');
  assert.equal(fileName([''], 'png'), 'netviz.png');
});
