// Talking to the web app's JSON API; every error becomes a message in the page.
const csrf = document.querySelector('meta[name="csrf-token"]').content;

export class ApiError extends Error {}

async function answer(response) {
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    throw new ApiError((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

export async function get(path) {
  return answer(await fetch(path, { headers: { Accept: "application/json" } }));
}

export async function post(path, data) {
  return answer(await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(data ?? {}),
  }));
}

const statusBox = () => document.getElementById("status");

export function showError(err) {
  const box = statusBox();
  box.textContent = err instanceof Error ? err.message : String(err);
  box.className = "";
  box.hidden = false;
}

export function showInfo(text) {
  const box = statusBox();
  box.textContent = text;
  box.className = "info";
  box.hidden = false;
}

export function clearStatus() {
  statusBox().hidden = true;
}

// Runs an async action, showing its error instead of throwing it.
export async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    showError(err);
    return undefined;
  }
}

export function labelsOf(text) {
  return text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}
