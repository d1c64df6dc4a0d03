// Fetching from the plugin's routes (tb_netviz/plugin/http_api.md).
//
// URLs are relative: TensorBoard's plugin iframe has its base at
// data/plugin/netviz/, so "./runs" reaches the plugin wherever TensorBoard is
// mounted (any --path_prefix). Same origin only.

/** A route answered with an error, or could not be reached. */
export class ApiError extends Error {
  constructor(route, status, message) {
    super(message);
    this.name = 'ApiError';
    this.route = route;
    this.status = status;
  }
}

/**
 * The relative URL of a route with its query parameters; undefined and null parameters are left out.
 * @example routeUrl('gradient_flow', {run: 'a b', max_steps: 500}) === './gradient_flow?run=a+b&max_steps=500'
 */
export function routeUrl(route, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) query.set(key, String(value));
  }
  const text = query.toString();
  return `./${route}${text ? `?${text}` : ''}`;
}

/**
 * GET a JSON route. Throws ApiError with the route's own error message on a
 * non-2xx answer, and with a plain explanation when the server is unreachable.
 */
export async function getJson(route, params = {}, { fetchImpl = globalThis.fetch, signal } = {}) {
  let response;
  try {
    response = await fetchImpl(routeUrl(route, params), { signal, headers: { Accept: 'application/json' } });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError(route, 0, 'TensorBoard did not answer. Is it still running?');
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText || ''}`.trim();
    try {
      const body = await response.json();
      if (body && typeof body.error === 'string') message = body.error;
    } catch (ignored) {
      // The body was not the JSON error of the contract: keep the status line.
    }
    throw new ApiError(route, response.status, message);
  }
  return response.json();
}

/** Every run with netviz data: `{runs: [...]}`. */
export function getRuns(options) {
  return getJson('runs', {}, options);
}

/**
 * Per-layer gradient statistics of a run, at most `maxSteps` steps.
 * `stats` picks columns and `layers` layers (default: all); `minStep` / `maxStep` bound the
 * steps (inclusive).
 * @example getGradientFlow('exp1', {stats: ['grad_l2'], minStep: 40}) // GET ./gradient_flow?run=exp1&max_steps=500&stats=grad_l2&min_step=40
 */
export function getGradientFlow(run, { maxSteps = 500, stats, layers, minStep, maxStep } = {}, options) {
  return getJson('gradient_flow', tableParams(run, { maxSteps, stats, layers, minStep, maxStep }), options);
}

/** Per-layer activation statistics of a run's probe batch (same parameters as getGradientFlow). */
export function getActivations(run, { maxSteps = 500, stats, minStep, maxStep } = {}, options) {
  return getJson('activations', tableParams(run, { maxSteps, stats, minStep, maxStep }), options);
}

function tableParams(run, { maxSteps, stats, layers, minStep, maxStep }) {
  return {
    run,
    max_steps: maxSteps,
    stats: stats && stats.length ? stats.join(',') : undefined,
    layers: layers && layers.length ? layers.join(',') : undefined,
    min_step: minStep,
    max_step: maxStep,
  };
}

/** The run's whole alert history. */
export function getAlerts(run, options) {
  return getJson('alerts', { run }, options);
}

/** The steps (and heads, tokens) of one layer's attention. */
export function getAttentionIndex(run, layer, options) {
  return getJson('attention', { run, layer }, options);
}

/** One layer's attention matrices at one step. */
export function getAttention(run, layer, step, options) {
  return getJson('attention', { run, layer, step }, options);
}

/** The steps at which one layer's feature maps were written. */
export function getFeatureMapSteps(run, layer, options) {
  return getJson('feature_maps', { run, layer }, options);
}

/** The URL of one feature-map PNG (for an <img src>). */
export function featureMapUrl(run, layer, step) {
  return routeUrl('feature_maps', { run, layer, step });
}

/**
 * TensorBoard's own run list (every run of the log directory, in TensorBoard's order),
 * from its core route data/runs: the order its run colours follow.
 */
export async function getTensorBoardRuns({ fetchImpl = globalThis.fetch } = {}) {
  const response = await fetchImpl('../../runs', { headers: { Accept: 'application/json' } });
  if (!response.ok) throw new ApiError('runs', response.status, `${response.status} ${response.statusText}`);
  const runs = await response.json();
  return Array.isArray(runs) ? runs.map(String) : [];
}

/** The steps (and scale, target, labels) of one layer's Grad-CAM maps. */
export function getGradCamIndex(run, layer, options) {
  return getJson('gradcam', { run, layer }, options);
}

/** One layer's Grad-CAM maps at one step, with the class and probability of each sample. */
export function getGradCam(run, layer, step, options) {
  return getJson('gradcam', { run, layer, step }, options);
}

/** The probe images the Grad-CAM maps are drawn over. */
export function getProbeInputs(run, options) {
  return getJson('probe_inputs', { run }, options);
}

/** The layout and kept steps of one layer's kernels or weight matrix. */
export function getWeightsIndex(run, layer, options) {
  return getJson('weights', { run, layer }, options);
}

/** One layer's weights at one step: `view` is 'weights' (w_t) or 'change' (w_t - w_0). */
export function getWeights(run, layer, step, view, options) {
  return getJson('weights', { run, layer, step, view }, options);
}

/** The PCA projection of one layer's features on the probe batch at every kept step. */
export function getEmbedding(run, layer, options) {
  return getJson('embedding', { run, layer }, options);
}
