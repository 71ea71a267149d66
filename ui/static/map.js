// The Map view: every point of the collection's 2-D map on one <canvas> (pixels written into
// an ImageData, never a DOM node per point), a spatial grid for hit testing, zoom and pan,
// box and lasso selection, colours by cluster or by a label, the thumbnail under the pointer.
import { get, post, guarded, labelsOf } from "./api.js";
import { selection, select, onSelection, thumbUrl } from "./tiles.js";

const $ = (id) => document.getElementById(id);
const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
  [174, 199, 232], [255, 187, 120], [152, 223, 138], [255, 152, 150], [197, 176, 213],
  [196, 156, 148], [247, 182, 210], [199, 199, 199], [219, 219, 141], [158, 218, 229]];
const HIT_PX = 6;

let data = null; // {ids, x: Float32Array, y, clusters: Int32Array, n}
let grid = null; // {cells, start: Uint32Array, items: Uint32Array, x0, y0, cell, g}
let view = { scale: 1, ox: 0, oy: 0 }; // screen = data * scale + offset
let highlight = null; // Uint8Array: 1 where the coloured-by label is on the point
let selected = new Uint8Array(0);
let drag = null;
let searchById = () => {};
let queued = false;

// The API sends the arrays as base64 of little-endian bytes (as every browser is).
function bytes(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out.buffer;
}

export async function load() {
  const m = await get("/api/map");
  const n = m.ids.length;
  data = { ids: m.ids, x: new Float32Array(bytes(m.x)), y: new Float32Array(bytes(m.y)),
           clusters: new Int32Array(bytes(m.clusters)), n,
           index: new Map(m.ids.map((id, i) => [id, i])) };
  selected = new Uint8Array(n);
  buildGrid();
  syncSelection();
  reset();
  $("map-info").textContent = `${n.toLocaleString()} points · map ${m.version}`;
}

export const loaded = () => data !== null;

function buildGrid() {
  const { x, y, n } = data;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, x[i]); x1 = Math.max(x1, x[i]);
    y0 = Math.min(y0, y[i]); y1 = Math.max(y1, y[i]);
  }
  const g = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
  const cell = Math.max((x1 - x0) / g, (y1 - y0) / g, 1e-9) * 1.0001;
  const cellOf = (i) => Math.min(g - 1, Math.floor((x[i] - x0) / cell)) * g
    + Math.min(g - 1, Math.floor((y[i] - y0) / cell));
  const count = new Uint32Array(g * g + 1);
  for (let i = 0; i < n; i++) count[cellOf(i) + 1]++;
  for (let c = 0; c < g * g; c++) count[c + 1] += count[c];
  const fillAt = count.slice();
  const items = new Uint32Array(n);
  for (let i = 0; i < n; i++) items[fillAt[cellOf(i)]++] = i;
  grid = { start: count, items, x0, y0, x1, y1, cell, g };
}

// Indices of the points in a data-space rectangle, through the grid's cells.
function inRect(ax, ay, bx, by, visit) {
  const { g, cell, x0, y0, start, items } = grid;
  const cx0 = Math.max(0, Math.floor((Math.min(ax, bx) - x0) / cell));
  const cx1 = Math.min(g - 1, Math.floor((Math.max(ax, bx) - x0) / cell));
  const cy0 = Math.max(0, Math.floor((Math.min(ay, by) - y0) / cell));
  const cy1 = Math.min(g - 1, Math.floor((Math.max(ay, by) - y0) / cell));
  for (let cx = cx0; cx <= cx1; cx++) {
    for (let cy = cy0; cy <= cy1; cy++) {
      const c = cx * g + cy;
      for (let k = start[c]; k < start[c + 1]; k++) visit(items[k]);
    }
  }
}

const toData = (sx, sy) => [(sx - view.ox) / view.scale, (sy - view.oy) / view.scale];

function nearest(sx, sy) {
  if (!data) return -1;
  const [dx, dy] = toData(sx, sy);
  const r = HIT_PX / view.scale;
  let best = -1, bestD = r * r;
  inRect(dx - r, dy - r, dx + r, dy + r, (i) => {
    const d = (data.x[i] - dx) ** 2 + (data.y[i] - dy) ** 2;
    if (d <= bestD) { bestD = d; best = i; }
  });
  return best;
}

function canvasSize() {
  const canvas = $("map");
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  return [w, h];
}

function reset() {
  const [w, h] = canvasSize();
  const spanX = grid.x1 - grid.x0 || 1, spanY = grid.y1 - grid.y0 || 1;
  view.scale = 0.92 * Math.min(w / spanX, h / spanY);
  view.ox = (w - spanX * view.scale) / 2 - grid.x0 * view.scale;
  view.oy = (h - spanY * view.scale) / 2 - grid.y0 * view.scale;
  draw();
}

export function draw() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(paint);
}

function paint() {
  queued = false;
  if (!data || $("view-map").hidden) return;
  const [w, h] = canvasSize();
  const ctx = $("map").getContext("2d");
  const image = ctx.createImageData(w, h);
  const px = new Uint32Array(image.data.buffer);
  px.fill(0xffffffff);
  const colour = (r, g, b) => (255 << 24) | (b << 16) | (g << 8) | r; // little-endian RGBA
  const table = PALETTE.map(([r, g, b]) => colour(r, g, b));
  const grey = colour(200, 200, 200), hot = colour(230, 81, 0), black = colour(0, 0, 0);
  const { x, y, clusters, n } = data;
  // Bigger points for small collections: 7 px at a few hundred, 3 px from 20K on.
  const size = n < 1000 ? 7 : n < 20000 ? 5 : 3;
  const put = (i, c, side) => {
    const sx = Math.round(x[i] * view.scale + view.ox), sy = Math.round(y[i] * view.scale + view.oy);
    const half = side >> 1;
    if (sx < half || sy < half || sx + side - half > w || sy + side - half > h) return;
    for (let a = -half; a < side - half; a++) {
      const row = (sy + a) * w + sx;
      for (let b = -half; b < side - half; b++) px[row + b] = c;
    }
  };
  const fillOf = (i) => (highlight ? (highlight[i] ? hot : grey) : table[clusters[i] % table.length]);
  for (let pass = 0; pass < 3; pass++) { // the rest, then labelled, then selected on top
    for (let i = 0; i < n; i++) {
      const isSel = selected[i] === 1, isHot = highlight !== null && highlight[i] === 1;
      if (pass === 0 && !isSel && !isHot) put(i, fillOf(i), size);
      else if (pass === 1 && isHot && !isSel) put(i, hot, size);
      else if (pass === 2 && isSel) { put(i, black, size + 4); put(i, fillOf(i), size); }
    }
  }
  ctx.putImageData(image, 0, 0);
  if (!performance.getEntriesByName("lookalike:map-drawn").length) performance.mark("lookalike:map-drawn");
  if (drag && drag.path) {
    ctx.strokeStyle = "#1e88e5";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    drag.path.forEach(([a, b], k) => (k ? ctx.lineTo(a, b) : ctx.moveTo(a, b)));
    if (drag.mode === "lasso") ctx.closePath();
    ctx.stroke();
  }
}

function syncSelection() {
  if (!data) return;
  selected.fill(0);
  for (const id of selection) {
    const i = data.index.get(id);
    if (i !== undefined) selected[i] = 1;
  }
  draw();
}

function inside(poly, px, py) {
  let hit = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if ((ya > py) !== (yb > py) && px < ((xb - xa) * (py - ya)) / (yb - ya) + xa) hit = !hit;
  }
  return hit;
}

function finishSelection(d, additive) {
  const poly = d.mode === "box"
    ? [[d.path[0][0], d.path[0][1]], [d.path.at(-1)[0], d.path[0][1]], d.path.at(-1), [d.path[0][0], d.path.at(-1)[1]]]
    : d.path;
  const dataPoly = poly.map(([a, b]) => toData(a, b));
  const xs = dataPoly.map((p) => p[0]), ys = dataPoly.map((p) => p[1]);
  const picked = [];
  inRect(Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys), (i) => {
    if (inside(dataPoly, data.x[i], data.y[i])) picked.push(data.ids[i]);
  });
  if (!additive) selection.clear();
  select(picked);
}

function pointer(e) {
  const r = $("map").getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

function hover(e) {
  const [sx, sy] = pointer(e);
  const i = nearest(sx, sy);
  const tip = $("map-tip");
  if (i < 0) { tip.hidden = true; return; }
  const id = data.ids[i];
  if (tip.dataset.id !== id) {
    tip.dataset.id = id;
    $("map-tip-img").src = thumbUrl(id);
    $("map-tip-text").textContent = `${id} · cluster ${data.clusters[i]}`;
  }
  tip.style.left = `${Math.min(sx + 12, $("map").clientWidth - 170)}px`;
  tip.style.top = `${Math.min(sy + 12, $("map").clientHeight - 160)}px`;
  tip.hidden = false;
}

async function colourBy() {
  const mode = $("map-colour").value;
  $("map-label").hidden = mode !== "label";
  const labels = labelsOf($("map-label").value);
  if (mode !== "label" || !labels.length || !data) { highlight = null; draw(); return; }
  const found = await post("/api/ids", { filter: { any_labels: labels } });
  highlight = new Uint8Array(data.n);
  for (const id of found.ids) {
    const i = data.index.get(id);
    if (i !== undefined) highlight[i] = 1;
  }
  $("map-info").textContent = `${found.ids.length.toLocaleString()} of ${data.n.toLocaleString()} points labelled ${labels.join(", ")}`;
  draw();
}

export const refresh = () => guarded(colourBy);

export function setup(search) {
  searchById = search;
  const canvas = $("map");
  onSelection(syncSelection);
  canvas.addEventListener("pointerdown", (e) => {
    if (!data) return;
    canvas.setPointerCapture(e.pointerId);
    const mode = $("map-mode").value;
    drag = { mode, start: pointer(e), path: mode === "pan" ? null : [pointer(e)], moved: false,
             ox: view.ox, oy: view.oy };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!data) return;
    if (!drag) { hover(e); return; }
    const [sx, sy] = pointer(e);
    drag.moved = drag.moved || Math.abs(sx - drag.start[0]) + Math.abs(sy - drag.start[1]) > 3;
    if (drag.mode === "pan") {
      view.ox = drag.ox + sx - drag.start[0];
      view.oy = drag.oy + sy - drag.start[1];
    } else if (drag.mode === "box") {
      drag.path = [drag.path[0], [sx, sy]];
    } else {
      drag.path.push([sx, sy]);
    }
    draw();
  });
  canvas.addEventListener("pointerup", (e) => {
    const d = drag;
    drag = null;
    if (d && d.mode !== "pan" && d.moved && d.path.length > 1) finishSelection(d, e.shiftKey);
    draw();
  });
  canvas.addEventListener("dblclick", (e) => {
    const [sx, sy] = pointer(e);
    const i = nearest(sx, sy);
    if (i >= 0) searchById(data.ids[i]);
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [sx, sy] = pointer(e);
    const f = Math.exp(-e.deltaY * 0.0015);
    view.ox = sx - (sx - view.ox) * f;
    view.oy = sy - (sy - view.oy) * f;
    view.scale *= f;
    draw();
  }, { passive: false });
  canvas.addEventListener("pointerleave", () => { $("map-tip").hidden = true; });
  $("map-reset").addEventListener("click", () => data && reset());
  $("map-colour").addEventListener("change", () => guarded(colourBy));
  $("map-label").addEventListener("change", () => guarded(colourBy));
  window.addEventListener("resize", draw);
}
