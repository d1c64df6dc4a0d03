// The row of the model's own parameters: the parameters the model object holds itself,
// outside every submodule (a transformer's positional embedding, say), named after the
// model (`Reverser`). Read as it is, that row looks like a model total; every view
// labels it with `modelLayerLabel` and explains it with `modelLayerTitle`.

const SUFFIX = ' (own parameters)';

const SHORT_SUFFIX = ' (own)';

/**
 * The names as the views show them: the model's row (`modelLayer`, from the route) marked,
 * in the short form `Reverser (own)` where the long one does not pass `fits(text)`.
 * @example displayNames(['Reverser', 'embed'], 'Reverser') // ['Reverser (own parameters)', 'embed']
 * @example displayNames(['Reverser'], 'Reverser', (t) => t.length <= 16) // ['Reverser (own)']
 * @example displayNames(['fc1'], null) // ['fc1']
 */
export function displayNames(names, modelLayer, fits = () => true) {
  return names.map((name) => {
    if (!modelLayer || name !== modelLayer) return name;
    const label = modelLayerLabel(name);
    return fits(label) ? label : `${name}${SHORT_SUFFIX}`;
  });
}

/**
 * The label of the model's own row.
 * @example modelLayerLabel('Reverser') // 'Reverser (own parameters)'
 */
export function modelLayerLabel(name) {
  return `${name}${SUFFIX}`;
}

/**
 * The hover text of a row: its full name, and for the model's own row what it holds.
 * @example modelLayerTitle('embed', 'Reverser') // 'embed'
 */
export function modelLayerTitle(name, modelLayer) {
  if (!modelLayer || name !== modelLayer) return name;
  return `${name}: the parameters the model object holds itself, outside every submodule (not a total of the model)`;
}
