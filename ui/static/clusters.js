// The Clusters view: a row of members per cluster, loaded as it scrolls into view; one
// cluster opened to page through all of it (Browse page tokens); rename; label all of it.
import { get, post, guarded, showInfo, labelsOf } from "./api.js";
import { el, tile, select } from "./tiles.js";

const $ = (id) => document.getElementById(id);
const PER_ROW = 10;
const PAGE = 60;
let info = null;
let opened = null; // {cluster, next}
let afterChange = () => {};
const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (entry.isIntersecting) {
      observer.unobserve(entry.target);
      loadRow(entry.target);
    }
  }
}, { rootMargin: "300px" });

async function loadRow(row) {
  const c = row.dataset.cluster;
  await guarded(async () => {
    const page = await get(`/api/clusters/${c}?size=${PER_ROW}`);
    row.querySelector(".strip").replaceChildren(...page.items.map((i) => tile(i, { small: true })));
  });
}

function nameOf(c) { return (info && info.cluster_names[String(c)]) || ""; }

function rename(c, nameNode) {
  const input = el("input", "rename");
  input.value = nameOf(c);
  input.placeholder = "cluster name";
  const save = el("button", "rename-save", "Save");
  save.type = "button";
  const done = () => guarded(async () => {
    await post(`/api/clusters/${c}/name`, { name: input.value });
    info.cluster_names[String(c)] = input.value.trim();
    nameNode.textContent = input.value.trim() || "(unnamed)";
    input.replaceWith(nameNode);
    save.remove();
    showInfo(`cluster ${c} renamed`);
  });
  save.addEventListener("click", done);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") done(); });
  nameNode.replaceWith(input);
  input.after(save);
  input.focus();
}

async function labelAll(c) {
  const labels = labelsOf($("label-input").value);
  if (!labels.length) throw new Error("type the label(s) in the label bar first, then press 'Label all'");
  const done = await post("/api/update", { cluster: c, add_labels: labels });
  showInfo(`labelled ${done.updated} images of cluster ${c}`);
  afterChange(done);
}

function head(c, size, { open = true } = {}) {
  const box = el("div", "row-head");
  const name = el("span", "name", nameOf(c) || "(unnamed)");
  const buttons = [];
  const add = (text, cls, fn) => {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", () => guarded(fn));
    buttons.push(b);
  };
  if (open) add("Open", "open", () => openCluster(c));
  add("Rename", "rename-btn", () => rename(c, name));
  add("Label all", "label-all", () => labelAll(c));
  box.append(el("strong", "", `cluster ${c}`), name, el("span", "muted size", `${size} images`), ...buttons);
  return box;
}

export function render(newInfo) {
  info = newInfo;
  const rows = info.cluster_sizes.map((size, c) => {
    const row = el("div", "crow");
    row.dataset.cluster = c;
    row.append(head(c, size), el("div", "strip"));
    observer.observe(row);
    return row;
  });
  $("cluster-rows").replaceChildren(...rows);
}

async function morePage() {
  const page = await get(`/api/clusters/${opened.cluster}?size=${PAGE}&token=${encodeURIComponent(opened.next)}`);
  $("cluster-grid").append(...page.items.map((i) => tile(i)));
  opened.next = page.next;
  $("cluster-more").hidden = !page.next;
}

export async function openCluster(c) {
  opened = { cluster: c, next: "" };
  $("cluster-rows").hidden = true;
  $("cluster-open").hidden = false;
  $("cluster-title").replaceChildren(head(c, info.cluster_sizes[c], { open: false }));
  $("cluster-size").textContent = "";
  $("cluster-grid").replaceChildren();
  await guarded(morePage);
}

export async function refresh() {
  for (const row of document.querySelectorAll(".crow")) {
    if (row.querySelector(".strip").childElementCount) loadRow(row);
  }
  if (opened && !$("cluster-open").hidden) {
    const shown = $("cluster-grid").childElementCount;
    opened.next = "";
    $("cluster-grid").replaceChildren();
    await guarded(async () => {
      do { await morePage(); } while (opened.next && $("cluster-grid").childElementCount < shown);
    });
  }
}

export function setup(onChange) {
  afterChange = onChange;
  $("cluster-back").addEventListener("click", () => {
    $("cluster-open").hidden = true;
    $("cluster-rows").hidden = false;
  });
  $("cluster-more").addEventListener("click", () => guarded(morePage));
  $("cluster-select-page").addEventListener("click", () => {
    select([...$("cluster-grid").querySelectorAll(".tile")].map((t) => t.dataset.id));
  });
}
