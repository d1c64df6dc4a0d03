// Short labels for layer names that never make two layers look the same.
//
// Deep models name layers like `encoder.layers.3.self_attn.out_proj`: cutting the
// end (`encoder.layers.3.s…`) or the start (`…self_attn.out_proj`) makes different
// layers read alike. A label here keeps the first dotted part, an ellipsis, and as
// many trailing parts as it takes to tell the layer apart from every other one
// (`encoder….3.self_attn.out_proj`), growing the tail while it still fits. Pure: no
// DOM; a view passes how wide a label may be as a `fits(text)` predicate.

const ELLIPSIS = '…';

/**
 * One label per name, each fitting `fits` where it can, no two alike where the names
 * differ. A name that fits is kept whole.
 * @example distinctLabels(['enc.layers.0.attn', 'enc.layers.1.attn'], (t) => t.length <= 12) // ['enc….0.attn', 'enc….1.attn']
 * @example distinctLabels(['fc1', 'fc2'], () => true) // ['fc1', 'fc2']
 */
export function distinctLabels(names, fits) {
  const tails = names.map((name) => name.split('.'));
  const counts = tailCounter(tails);
  const labels = names.map((name, i) => (fits(name) ? name : labelFor(name, tails[i], counts, fits)));
  return resolveClashes(names, labels, fits);
}

/**
 * A character budget as a `fits` predicate (for tests and fixed-width text).
 * @example byLength(5)('abcde') === true
 */
export function byLength(maxChars) {
  return (text) => text.length <= maxChars;
}

// The shortest trailing run of dotted parts no other name ends with, widened while it fits;
// without the first part, or with the middle of that run elided, when it does not.
function labelFor(name, parts, counts, fits) {
  let t = 1;
  while (t < parts.length - 1 && counts(t).get(parts.slice(-t).join('.')) !== 1) t++;
  const compose = (n) =>
    n >= parts.length - 1 ? name : `${parts[0]}${ELLIPSIS}.${parts.slice(-n).join('.')}`;
  if (fits(compose(t))) {
    while (t + 1 < parts.length - 1 && fits(compose(t + 1))) t++;
    return compose(t);
  }
  const tail = parts.slice(-t);
  const candidates = [`${ELLIPSIS}${tail.join('.')}`];
  if (tail.length >= 3) candidates.push(`${ELLIPSIS}${tail[0]}.${ELLIPSIS}${tail[tail.length - 1]}`);
  return candidates.find(fits) || middleCut(name, fits);
}

// How many names end with each run of t dotted parts, counted once per t (names x depth work).
function tailCounter(tails) {
  const byLength = new Map();
  return (t) => {
    if (!byLength.has(t)) {
      const counts = new Map();
      for (const parts of tails) {
        if (parts.length < t) continue;
        const tail = parts.slice(-t).join('.');
        counts.set(tail, (counts.get(tail) || 0) + 1);
      }
      byLength.set(t, counts);
    }
    return byLength.get(t);
  };
}

// Characters from both ends around an ellipsis, the end (which tells layers apart) favoured.
function middleCut(name, fits, headShare = 0.35) {
  for (let keep = name.length - 1; keep >= 2; keep--) {
    const head = Math.max(1, Math.floor(keep * headShare));
    const label = `${name.slice(0, head)}${ELLIPSIS}${name.slice(name.length - (keep - head))}`;
    if (fits(label)) return label;
  }
  return `${name.slice(0, 1)}${ELLIPSIS}`;
}

// Names whose labels still collide (at a tiny width) get a middle cut that keeps more of the
// end, and the first place where they differ when that is in the middle.
function resolveClashes(names, labels, fits) {
  const seen = new Map();
  labels.forEach((label, i) => {
    if (!seen.has(label)) seen.set(label, []);
    seen.get(label).push(i);
  });
  const out = labels.slice();
  for (const group of seen.values()) {
    if (group.length < 2) continue;
    for (const i of group) {
      const others = group.filter((j) => j !== i).map((j) => names[j]);
      out[i] = differingLabel(names[i], others, fits) || labels[i];
    }
  }
  return out;
}

function differingLabel(name, others, fits) {
  let at = 0;
  while (others.every((other) => other[at] === name[at]) && at < name.length) at++;
  for (let width = name.length; width >= 3; width--) {
    const start = Math.max(0, Math.min(at - Math.floor(width / 3), name.length - width));
    const label = `${start > 0 ? ELLIPSIS : ''}${name.slice(start, start + width)}${start + width < name.length ? ELLIPSIS : ''}`;
    if (fits(label)) return label;
  }
  return null;
}
