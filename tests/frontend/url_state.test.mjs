// Specifications of the view in the URL (frontend/url_state.js), run with `node --test tests/frontend/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createUrlStore, decodeView, encodeView } from '../../frontend/url_state.js';

test('a view survives the round trip through the URL, names with any characters included', () => {
  const view = {
    run: 'exp 1/lr=0.1&b',
    compare: ['base, v2', '<img src=x>'],
    stat: 'grad_max_abs',
    step: 120,
    layer: 'encoder.layers.3.self_attn.out_proj',
    filter: 'linear|norm*',
    log: false,
    range: 'layer',
    zoom: { from: 20, to: 140 },
    collapsed: ['encoder.layers.0', 'decoder/block,1'],
  };
  assert.deepEqual(decodeView(encodeView(view)), view);
});

test('the collapsed groups of the layer tree are a list of prefixes; anything else is dropped', () => {
  assert.deepEqual(decodeView('collapsed=["encoder.layers.1"]'), { collapsed: ['encoder.layers.1'] });
  assert.deepEqual(decodeView('collapsed=encoder.layers.1'), {});
  assert.deepEqual(decodeView('collapsed=[1]'), {});
  assert.equal(encodeView({ run: 'a', collapsed: [] }), 'run=a');
});

test('defaults are left out of the URL', () => {
  assert.equal(encodeView({ run: 'a', log: true, range: 'robust', filter: '', compare: [] }), 'run=a');
});

test('malformed parts are dropped, not guessed', () => {
  assert.deepEqual(decodeView('step=12a&log=yes&compare=[1,2]&range=full&x=1'), { range: 'full' });
  assert.deepEqual(decodeView('#step=-5'), { step: -5 });
  assert.deepEqual(decodeView('zoom=50-10'), {});
  assert.deepEqual(decodeView(''), {});
});

function fakeWindow(hash, parent = null) {
  const win = {
    location: { hash, pathname: '/data/plugin_entry.html', search: '?name=netviz' },
    history: {
      state: null,
      replaceState: (_s, _t, url) => {
        win.location.hash = url.includes('#') ? url.slice(url.indexOf('#')) : '';
      },
    },
  };
  win.parent = parent || win;
  return win;
}

test("inside TensorBoard's NetViz tab the view goes to TensorBoard's hash, after the tab name", () => {
  const page = fakeWindow('#netviz');
  const frame = fakeWindow('', page);
  const store = createUrlStore(frame);
  store.write('run=a&step=3');
  assert.equal(page.location.hash, '#netviz&nv=run%3Da%26step%3D3');
  assert.equal(store.read(), 'run=a&step=3');
  store.write('run=b');
  assert.equal(page.location.hash, '#netviz&nv=run%3Db');
  assert.equal(frame.location.hash, '');
});

test('opened on its own, the dashboard keeps the view in its own hash', () => {
  const win = fakeWindow('');
  const store = createUrlStore(win);
  store.write('run=a');
  assert.equal(win.location.hash, '#run=a');
  assert.equal(store.read(), 'run=a');
});

test('a parent page of another origin is not written to', () => {
  const frame = fakeWindow('');
  Object.defineProperty(frame, 'parent', {
    get: () => ({
      get location() {
        throw new Error('SecurityError');
      },
    }),
  });
  const store = createUrlStore(frame);
  store.write('run=a');
  assert.equal(frame.location.hash, '#run=a');
});
