// A tiny client-side router: /dashboard exists only here, so the host must fall back to index.html.
const routes = {
  "/": () => "<p>Welcome. This page, its CSS, JS, PNG and WOFF2 font were deployed by sitedeploy.</p>",
  "/dashboard": () => '<p>Dashboard — rendered in the browser. <span class="glyph">S</span></p>',
};

function render() {
  const view = document.getElementById("view");
  const page = routes[location.pathname];
  view.innerHTML = page ? page() : "<p>Not found in the app.</p>";
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-route]");
  if (!link) return;
  event.preventDefault();
  history.pushState({}, "", link.getAttribute("href"));
  render();
});
window.addEventListener("popstate", render);
render();
