// Light and dark theme. Inside TensorBoard the plugin iframe is same-origin,
// so the dashboard follows TensorBoard's own switch (the `dark-mode` class on
// the parent page's body); opened on its own, it follows the browser's
// prefers-color-scheme (style.css).

/** Keep document.documentElement's data-theme in step with TensorBoard's theme, when there is one. */
export function followTensorBoardTheme(onChange = () => {}) {
  let parentBody = null;
  try {
    if (window.parent !== window) parentBody = window.parent.document.body;
  } catch (crossOrigin) {
    parentBody = null; // not inside TensorBoard's page: prefers-color-scheme decides
  }
  if (!parentBody) return;
  const apply = () => {
    const theme = parentBody.classList.contains('dark-mode') ? 'dark' : 'light';
    if (document.documentElement.dataset.theme !== theme) {
      document.documentElement.dataset.theme = theme;
      onChange(theme);
    }
  };
  apply();
  new MutationObserver(apply).observe(parentBody, { attributes: true, attributeFilter: ['class'] });
}
