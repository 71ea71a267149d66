// The Search view: by an uploaded, dropped or pasted image, a URL, or a shown image's id.
import { post, guarded, clearStatus, labelsOf } from "./api.js";
import { fill, thumbUrl } from "./tiles.js";

const $ = (id) => document.getElementById(id);
let last = null; // the last query, so a label change can show fresh labels

function list(text) { return labelsOf(text); }

// "source=web; price=0..20; has:notes" -> the API's attribute conditions.
function attributes(text) {
  const out = [];
  for (const part of text.split(";").map((s) => s.trim()).filter(Boolean)) {
    if (part.startsWith("has:")) { out.push({ key: part.slice(4).trim(), exists: true }); continue; }
    const at = part.indexOf("=");
    if (at < 0) throw new Error(`attribute condition ${JSON.stringify(part)}: use key=value, key=min..max or has:key`);
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    const range = value.match(/^(-?[\d.eE+-]*)\.\.(-?[\d.eE+-]*)$/);
    if (range) {
      out.push({ key, min: range[1] === "" ? null : Number(range[1]),
                 max: range[2] === "" ? null : Number(range[2]) });
    } else {
      out.push({ key, equals: value });
    }
  }
  return out;
}

export function currentFilter() {
  const filter = {};
  const any = list($("f-any").value), all = list($("f-all").value), none = list($("f-none").value);
  if (any.length) filter.any_labels = any;
  if (all.length) filter.all_labels = all;
  if (none.length) filter.none_labels = none;
  const attrs = attributes($("f-attrs").value);
  if (attrs.length) filter.attributes = attrs;
  const clusters = list($("f-clusters").value).map(Number);
  if (clusters.length) filter.clusters = clusters;
  return Object.keys(filter).length ? filter : null;
}

async function run(query, preview, what) {
  clearStatus();
  last = { query, preview, what };
  $("query-what").textContent = `${what} — searching…`;
  $("query-img").hidden = !preview;
  if (preview) $("query-img").src = preview;
  const done = await guarded(async () => {
    const body = { ...query, k: Number($("k").value) || 24, filter: currentFilter() };
    const found = await post("/api/search", body);
    const name = found.cluster_name ? ` (${found.cluster_name})` : "";
    $("query-what").textContent = `${what}: ${found.neighbors.length} nearest; query cluster ${found.cluster}${name}`;
    fill($("results"), found.neighbors);
    return true;
  });
  if (!done) $("query-what").textContent = `${what}: search failed`;
}

export function searchById(id) {
  return run({ id }, thumbUrl(id), `image ${id}`);
}

function searchFile(file) {
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => run({ image: reader.result }, URL.createObjectURL(file), `upload ${file.name || "pasted image"}`);
  reader.readAsDataURL(file);
}

export function refresh() {
  if (last) return run(last.query, last.preview, last.what);
  return undefined;
}

export function setup(showView) {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => searchFile(e.target.files[0]));
  $("url-go").addEventListener("click", () => {
    const url = $("url").value.trim();
    if (url) run({ url }, null, `URL ${url}`);
  });
  $("url").addEventListener("keydown", (e) => { if (e.key === "Enter") $("url-go").click(); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = [...e.dataTransfer.files].find((f) => f.type.startsWith("image/"));
    if (file) return searchFile(file);
    // An image dragged from this page: search by its stored id.
    const uri = (e.dataTransfer.getData("text/uri-list") || "").split("\n")[0];
    const mine = uri.match(/\/thumb\/([^?]+)/);
    if (mine) return searchById(decodeURIComponent(mine[1]));
    if (uri.startsWith("http")) return run({ url: uri }, null, `URL ${uri}`);
    return undefined;
  });
  document.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) { showView("search"); searchFile(item.getAsFile()); }
  });
}
