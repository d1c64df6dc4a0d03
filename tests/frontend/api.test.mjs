// Specifications of route access (frontend/api.js), against a fetch that answers like the plugin would.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ApiError, featureMapUrl, getGradientFlow, getJson, routeUrl } from '../../frontend/api.js';

function answering(status, body, seen = []) {
  return async (url) => {
    seen.push(url);
    return {
      ok: status >= 200 && status < 300,
      status,
      statusText: status === 404 ? 'NOT FOUND' : 'OK',
      json: async () => (typeof body === 'string' ? JSON.parse(body) : body),
    };
  };
}

test('route URLs are relative to the plugin and encode every parameter', () => {
  assert.equal(routeUrl('runs'), './runs');
  assert.equal(
    routeUrl('gradient_flow', { run: 'a b/c&d', max_steps: 500 }),
    './gradient_flow?run=a+b%2Fc%26d&max_steps=500',
  );
  assert.equal(routeUrl('attention', { run: 'r', layer: 'x', step: undefined }), './attention?run=r&layer=x');
  assert.equal(featureMapUrl('r', '<img src=x>', 3), './feature_maps?run=r&layer=%3Cimg+src%3Dx%3E&step=3');
});

test('getGradientFlow asks for the run with a step cap', async () => {
  const seen = [];
  const body = await getGradientFlow(
    'exp1',
    { maxSteps: 200 },
    { fetchImpl: answering(200, { run: 'exp1' }, seen) },
  );
  assert.deepEqual(body, { run: 'exp1' });
  assert.deepEqual(seen, ['./gradient_flow?run=exp1&max_steps=200']);
});

test('getGradientFlow asks only for the chosen columns and the steps after a given one', async () => {
  const seen = [];
  await getGradientFlow(
    'exp1',
    { maxSteps: 500, stats: ['grad_l2', 'has_grad'], minStep: 41 },
    { fetchImpl: answering(200, {}, seen) },
  );
  assert.deepEqual(seen, ['./gradient_flow?run=exp1&max_steps=500&stats=grad_l2%2Chas_grad&min_step=41']);
});

test('getGradientFlow can ask for every column of chosen layers', async () => {
  const seen = [];
  await getGradientFlow('exp1', { layers: ['enc.attn', 'head'] }, { fetchImpl: answering(200, {}, seen) });
  assert.deepEqual(seen, ['./gradient_flow?run=exp1&max_steps=500&layers=enc.attn%2Chead']);
});

test('an error answer raises ApiError with the route message and status', async () => {
  const fetchImpl = answering(404, { error: 'unknown run "nope"' });
  await assert.rejects(getJson('gradient_flow', { run: 'nope' }, { fetchImpl }), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 404);
    assert.equal(error.route, 'gradient_flow');
    assert.equal(error.message, 'unknown run "nope"');
    return true;
  });
});

test('an error answer that is not JSON keeps the status line', async () => {
  const fetchImpl = answering(404, 'not json {');
  await assert.rejects(getJson('runs', {}, { fetchImpl }), /404 NOT FOUND/);
});

test('an unreachable server says so plainly', async () => {
  const fetchImpl = async () => {
    throw new TypeError('Failed to fetch');
  };
  await assert.rejects(getJson('runs', {}, { fetchImpl }), (error) => {
    assert.equal(error.status, 0);
    assert.match(error.message, /TensorBoard did not answer/);
    return true;
  });
});
