// The row of the model's own parameters: the parameters the model object holds itself,
// outside every submodule (a transformer's positional embedding, say), named after the
// model (`Reverser`). Read as it is, that row looks like a model total; every view
// labels it with `modelLayerLabel` and explains it with `modelLayerTitle`.

const SUFFIX = ' (own parameters)';

/**
 * The names as the views show them: the model's row (`modelLayer`, from the route) marked.
 * @example displayNames(['Reverser', 'embed'], 'Reverser') // ['Reverser (own parameters)', 'embed']
 * @example displayNames(['fc1'], null) // ['fc1']
 */
export function displayNames(names, modelLayer) {
  return names.map((name) => (modelLayer && name === modelLayer ? modelLayerLabel(name) : name));
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
