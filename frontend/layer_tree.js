// The sidebar's layer tree: layers grouped by module prefix (`encoder.layers.0.*`).
//
// A prefix becomes a group only when it holds two layers or more, so a flat model
// (fc1, fc2, head) stays a flat list; a chain of groups with one child each is
// folded into one (`encoder.layers`, not `encoder` > `layers`). Groups keep the
// layers' order: a group stands where its first layer stood. Pure: no DOM.

import { alertTitle } from './shape.js';

// Dotted torch names (`encoder.layers.0`) and Keras paths (`block/dense`) alike.
const SEPARATOR = /[./]/;

// The cause first, as in the alerts list: a non-finite gradient is what the others follow from.
export const ALERT_KIND_ORDER = ['nonfinite', 'exploding', 'vanishing', 'dead_units'];

/**
 * The tree of `names`: nodes `{kind: 'layer', index, name, label}` and
 * `{kind: 'group', prefix, label, layers, children}` (`layers`: the indices of all the
 * layers under the group). `label` is the part after the parent group's prefix.
 * @example layerTree(['fc1', 'fc2']).map((n) => n.kind) // ['layer', 'layer']
 * @example layerTree(['enc.0.a', 'enc.0.b', 'head'])[0].prefix // 'enc.0'
 */
export function layerTree(names) {
  const parts = names.map((name) => splitName(name));
  return groupLevel(
    names,
    parts,
    names.map((_, i) => i),
    0,
    '',
  );
}

/**
 * Every group's prefix in the tree, depth first (for collapsing all of them, for tests).
 * @example groupPrefixes(layerTree(['a.x', 'a.y', 'b'])) // ['a']
 */
export function groupPrefixes(nodes) {
  const found = [];
  for (const node of nodes) {
    if (node.kind !== 'group') continue;
    found.push(node.prefix);
    found.push(...groupPrefixes(node.children));
  }
  return found;
}

/**
 * The collapsed group prefixes less those that hold the layer `name`, so that it shows.
 * @example revealLayer(['enc.0', 'enc.1'], 'enc.0.attn') // ['enc.1']
 * @example revealLayer(['enc.0.attn'], 'enc.0.attn') // [] (a layer named like its group)
 */
export function revealLayer(collapsed, name) {
  if (typeof name !== 'string') return collapsed;
  const holds = (prefix) =>
    name === prefix || (name.startsWith(prefix) && SEPARATOR.test(name[prefix.length]));
  return collapsed.some(holds) ? collapsed.filter((prefix) => !holds(prefix)) : collapsed;
}

/**
 * A group's badge from its layers' states at the step (`'ok'|'none'|'nonfinite'`, as
 * `layerStates` gives them), the alerts of the run and the layers the filter shows:
 * `{text, className, title}`, the per-layer badge's glyphs (✕ non-finite, ∅ no gradient,
 * ⚑ alerts), counted over the group's shown layers, its class naming the worst state and
 * the worst alert kind.
 * @example groupBadge({layers: [0, 1]}, ['nonfinite', 'ok'], ['a.x', 'a.y'], [{kind: 'exploding', layer: 'a.x'}]).text // '✕1 ⚑1'
 */
export function groupBadge(group, states, names, alerts, visible = null) {
  const shown = group.layers.filter((j) => !visible || visible.has(j));
  const nonfinite = shown.filter((j) => states[j] === 'nonfinite').length;
  const none = shown.filter((j) => states[j] === 'none').length;
  const inGroup = new Set(shown.map((j) => names[j]));
  const kinds = alerts.filter((alert) => inGroup.has(alert.layer)).map((alert) => alert.kind);
  const worst = worstAlertKind(kinds);
  const glyph = nonfinite ? `✕${nonfinite}` : none ? `∅${none}` : '';
  const state = nonfinite ? 'nonfinite' : none ? 'none' : 'ok';
  const of = `of ${shown.length} layer${shown.length === 1 ? '' : 's'}`;
  return {
    text: `${glyph}${kinds.length ? ` ⚑${kinds.length}` : ''}`.trim(),
    className: `badge group-badge ${state}${worst ? ` alerted worst-${worst}` : ''}`,
    title: [
      nonfinite ? `${nonfinite} ${of} non-finite at this step` : '',
      none ? `${none} ${of} without a gradient at this step` : '',
      kinds.length ? `${kinds.length} alert${kinds.length > 1 ? 's' : ''} (worst: ${alertTitle(worst)})` : '',
    ]
      .filter(Boolean)
      .join('; '),
  };
}

/**
 * The worst of some alert kinds (`ALERT_KIND_ORDER`, unknown kinds last); null for none.
 * @example worstAlertKind(['vanishing', 'nonfinite']) // 'nonfinite'
 */
export function worstAlertKind(kinds) {
  const rank = (kind) => {
    const i = ALERT_KIND_ORDER.indexOf(kind);
    return i < 0 ? ALERT_KIND_ORDER.length : i;
  };
  let worst = null;
  for (const kind of kinds) if (worst === null || rank(kind) < rank(worst)) worst = kind;
  return worst;
}

// A name's parts with where each ends: `a.b/c` -> [{part: 'a', end: 1}, {part: 'b', end: 3}, ...].
function splitName(name) {
  const found = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i === name.length || SEPARATOR.test(name[i])) {
      found.push({ part: name.slice(start, i), end: i });
      start = i + 1;
    }
  }
  return found;
}

// The nodes of the layers `members`, which all share their first `depth` parts (`prefix`).
function groupLevel(names, parts, members, depth, prefix) {
  const buckets = new Map();
  const order = [];
  for (const i of members) {
    const key = parts[i].length > depth ? parts[i][depth].part : null;
    // a layer named like the prefix itself (`self_attn` beside `self_attn.out_proj`) stands alone
    const slot = key === null ? `\u0000${i}` : key;
    if (!buckets.has(slot)) {
      buckets.set(slot, []);
      order.push(slot);
    }
    buckets.get(slot).push(i);
  }
  return order.map((slot) => {
    const inside = buckets.get(slot);
    const first = inside[0];
    const start = prefix ? prefix.length + 1 : 0;
    if (inside.length < 2) {
      const label = names[first].slice(start) || parts[first][parts[first].length - 1].part;
      return { kind: 'layer', index: first, name: names[first], label };
    }
    const groupPrefix = names[first].slice(0, parts[first][depth].end);
    let group = {
      kind: 'group',
      prefix: groupPrefix,
      label: groupPrefix.slice(start),
      layers: inside.slice(),
      children: groupLevel(names, parts, inside, depth + 1, groupPrefix),
    };
    // fold a chain of single groups: `encoder` > `layers` reads as `encoder.layers`
    while (group.children.length === 1 && group.children[0].kind === 'group') {
      const child = group.children[0];
      group = { ...child, label: child.prefix.slice(start) };
    }
    return group;
  });
}
