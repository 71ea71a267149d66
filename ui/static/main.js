// The page: header (polled), tabs, the label bar (add, remove, undo, export) and the views.
import { get, post, guarded, showInfo, labelsOf } from "./api.js";
import { selection, clearSelection, setSearchById, changed } from "./tiles.js";
import * as search from "./search.js";
import * as clusters from "./clusters.js";
import * as map from "./map.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 10000;
let current = "search";

function showView(name) {
  current = name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  if (name === "map") {
    if (!map.loaded()) guarded(map.load);
    else map.draw();
  }
}

function short(text, n = 12) { return text.length > n ? `${text.slice(0, n)}…` : text; }

async function poll() {
  try {
    const info = await get("/api/info");
    $("h-count").textContent = `${info.count.toLocaleString()} images`;
    $("h-clusters").textContent = `${info.clusters} clusters`;
    $("h-model").textContent = `model ${short(info.model_fingerprint)}`;
    $("h-model").title = info.model_fingerprint;
    $("h-store").textContent = `store ${info.store || "local"}`;
    $("h-health").textContent = info.health;
    $("h-health").className = `fact health ${info.health === "SERVING" ? "ok" : "bad"}`;
    return info;
  } catch (err) {
    $("h-health").textContent = err.message;
    $("h-health").className = "fact health bad";
    return null;
  } finally {
    $("h-polled").textContent = `checked ${new Date().toLocaleTimeString()}`;
  }
}

function setUndo(what) {
  $("undo").disabled = !what;
  $("undo-what").textContent = what ? `last: ${what}` : "";
}

async function afterChange(done) {
  setUndo(done.undo);
  const info = await poll();
  if (info && current === "clusters") clusters.refresh();
  if (current === "search") search.refresh();
  map.refresh();
}

async function change(kind) {
  const labels = labelsOf($("label-input").value);
  if (!labels.length) throw new Error("type the label(s) to add or remove first");
  if (!selection.size) throw new Error("select images first (tick their boxes, or box/lasso them on the map)");
  const body = { ids: [...selection] };
  body[kind === "add" ? "add_labels" : "remove_labels"] = labels;
  const done = await post("/api/update", body);
  const missing = done.missing.length ? `; ${done.missing.length} ids were no longer stored` : "";
  showInfo(`${kind === "add" ? "labelled" : "unlabelled"} ${done.updated} images${missing}`);
  await afterChange(done);
}

async function start() {
  setSearchById((id) => { showView("search"); return search.searchById(id); });
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showView(b.dataset.view));
  $("sel-clear").addEventListener("click", clearSelection);
  $("label-add").addEventListener("click", () => guarded(() => change("add")));
  $("label-remove").addEventListener("click", () => guarded(() => change("remove")));
  $("undo").addEventListener("click", () => guarded(async () => {
    const done = await post("/api/undo");
    showInfo(`undone: ${done.undone}`);
    await afterChange(done);
  }));
  search.setup(showView);
  clusters.setup(afterChange);
  map.setup((id) => { showView("search"); return search.searchById(id); });
  changed();
  const info = await poll();
  if (info) clusters.render(info);
  setInterval(poll, POLL_MS);
  document.body.dataset.ready = "1";
  performance.mark("lookalike:first-screen"); // benchmarks/ui_bench.py reads it
}

start();
