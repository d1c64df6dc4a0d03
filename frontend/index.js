// Entry point of the NetViz tab. TensorBoard's plugin iframe imports this
// module (es_module_path) and calls render(); the iframe's base URL is the
// plugin's data path, so "./static/style.css" and the routes are relative.

import { createApp } from './app.js';
import { h } from './dom.js';
import { followTensorBoardTheme } from './theme.js';

/** Build the dashboard into the iframe's document and start loading data. */
export async function render() {
  document.head.appendChild(h('link', { attrs: { rel: 'stylesheet', href: './static/style.css' } }));
  const root = h('div', { class: 'netviz', attrs: { id: 'netviz' } });
  document.body.appendChild(root);
  // Tests and embedders may shorten the refresh period before the module loads.
  const refreshMs = Number(window.NETVIZ_REFRESH_MS) || undefined;
  const app = createApp(root, { refreshMs });
  followTensorBoardTheme(() => app.redraw());
  return app;
}
