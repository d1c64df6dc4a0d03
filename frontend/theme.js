// Light and dark theme, set once as data-theme on the root element (style.css
// holds one palette per theme). Inside TensorBoard the plugin iframe is
// same-origin, so the dashboard follows TensorBoard's own switch (the
// `dark-mode` class on the parent page's body); opened on its own, it follows
// the browser's prefers-color-scheme.

/** Keep document.documentElement's data-theme in step with TensorBoard's theme, else the browser's. */
export function followTensorBoardTheme(onChange = () => {}) {
  let parentBody = null;
  try {
    if (window.parent !== window) parentBody = window.parent.document.body;
  } catch (crossOrigin) {
    parentBody = null; // not inside TensorBoard's page
  }
  const setTheme = (theme) => {
    if (document.documentElement.dataset.theme !== theme) {
      document.documentElement.dataset.theme = theme;
      onChange(theme);
    }
  };
  if (parentBody) {
    const apply = () => setTheme(parentBody.classList.contains('dark-mode') ? 'dark' : 'light');
    apply();
    new MutationObserver(apply).observe(parentBody, { attributes: true, attributeFilter: ['class'] });
    return;
  }
  const query = window.matchMedia('(prefers-color-scheme: dark)');
  const apply = () => setTheme(query.matches ? 'dark' : 'light');
  apply();
  query.addEventListener('change', apply);
}
