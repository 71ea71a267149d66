// Image tiles and the one selection shared by the grid, the clusters and the map.
// Everything from the collection (ids, paths, labels, names) is set as text, never as markup.
export const selection = new Set();
const listeners = [];

export function onSelection(fn) { listeners.push(fn); }

export function changed() {
  document.getElementById("sel-count").textContent = `${selection.size} selected`;
  for (const tile of document.querySelectorAll(".tile")) {
    const on = selection.has(tile.dataset.id);
    tile.classList.toggle("selected", on);
    const box = tile.querySelector(".pick");
    if (box) box.checked = on;
  }
  for (const fn of listeners) fn();
}

export function select(ids, on = true) {
  for (const id of ids) (on ? selection.add(id) : selection.delete(id));
  changed();
}

export function clearSelection() { selection.clear(); changed(); }

export function thumbUrl(id, size = 128) {
  return `/thumb/${encodeURIComponent(id)}?size=${size}`;
}

let searchById = () => {};
export function setSearchById(fn) { searchById = fn; }

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function chips(labels) {
  const box = el("div", "chips");
  for (const label of labels) box.append(el("span", "chip", label));
  return box;
}

// One tile: {id, path, cluster, cluster_name, labels, distance?}.
export function tile(item, { small = false } = {}) {
  const node = el("div", "tile");
  node.dataset.id = item.id;
  const img = el("img");
  img.loading = "lazy";
  img.decoding = "async";
  img.alt = item.id;
  img.title = `${item.path}\n(click: search by this image)`;
  img.src = thumbUrl(item.id);
  img.width = 128;
  img.height = 128;
  img.draggable = true;
  img.addEventListener("click", () => searchById(item.id));
  img.addEventListener("error", () => {
    if (!img.src.endsWith("/static/missing.svg")) img.src = "/static/missing.svg";
  });
  const pick = el("input", "pick");
  pick.type = "checkbox";
  pick.title = "select";
  pick.checked = selection.has(item.id);
  pick.addEventListener("change", () => select([item.id], pick.checked));
  node.append(pick, img);
  node.classList.toggle("selected", selection.has(item.id));
  if (!small) {
    const meta = el("div", "meta");
    if (item.distance !== undefined) meta.append(el("div", "dist", `d = ${item.distance.toFixed(4)}`));
    const cluster = el("div", "cl", `cluster ${item.cluster}`);
    if (item.cluster_name) cluster.append(el("span", "cname", ` · ${item.cluster_name}`));
    const path = el("div", "path", item.path.split("/").pop() || item.path);
    path.title = item.path;
    meta.append(cluster, path, chips(item.labels || []));
    node.append(meta);
  }
  return node;
}

export function fill(container, items, options) {
  container.replaceChildren(...items.map((item) => tile(item, options)));
}
