"""The web app's time to first screen in headless Chromium, at a small collection (the
baseline, same run) and at 100K images built from testbed vectors; JSON out.

    nice -n 10 .venv/bin/python benchmarks/ui_bench.py [--sizes 1000,100000] [--repeats 5]

Per size: a collection of blob vectors (sqrt(n) clusters; every path one of 256 real PNGs, so
thumbnails are real reads; its map made by `lookalike map`) served by `lookalike serve --ui 0`,
then a fresh headless Chromium (browser cache off) loads the page `--repeats` times:
- first_screen_ms: navigation start to the page's "lookalike:first-screen" mark (header
  filled from Info and Health, every cluster row laid out, scripts done);
- clusters_ms: clicking the Clusters tab to every thumbnail of the rows on screen decoded;
- map_ms: clicking the Map tab to the first draw of every point (the Map call streamed, sent
  as JSON, parsed, the hit-test grid built, the points drawn).
The first repeat is cold (the app's thumbnail cache empty); medians are over all repeats.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from testbed import blob_vectors, make_collection, save_model  # noqa: E402

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,900")
# In the page: click a tab, then report the ms until `done()` holds (checked every frame).
TIMED_TAB = """
const [view, check, finish] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const t0 = performance.now();
document.querySelector(`#tabs [data-view="${view}"]`).click();
const done = new Function(check);
(function poll() {
  const answer = done();
  if (answer) finish([performance.now() - t0, answer]);
  else if (performance.now() - t0 > 60000) finish([null, "timed out"]);
  else requestAnimationFrame(poll);
})();
"""
CLUSTERS_DONE = """
const rows = [...document.querySelectorAll('.crow')].filter(r => {
  const b = r.getBoundingClientRect(); return b.top < innerHeight && b.bottom > 0; });
const imgs = rows.flatMap(r => [...r.querySelectorAll('.strip img')]);
return rows.length && imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0)
  ? `${rows.length} rows, ${imgs.length} thumbnails` : null;
"""
MAP_DONE = """
if (performance.getEntriesByName('lookalike:map-drawn').length)
  return document.getElementById('map-info').textContent;
const status = document.getElementById('status');
return status.hidden ? null : 'refused: ' + status.textContent;
"""


def make_files(folder: Path, count: int = 256) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def build(work: Path, n: int, files: list[str], model: Path, reuse: bool
          ) -> tuple[Path, float]:
    started = time.perf_counter()
    folder = work / f"collection-{n}"
    if reuse and (folder / "map.npz").exists():
        return folder, 0.0
    if folder.exists():
        shutil.rmtree(folder)
    vectors = blob_vectors(n, centres=64, seed=1)
    make_collection(folder, model, vectors, k=max(4, round(math.sqrt(n))),
                    paths=[files[i % len(files)] for i in range(n)]).close()
    # A collection made straight from vectors has no map yet: make it as `lookalike map` does.
    subprocess.run([sys.executable, "-m", "lookalike.app.cli", "map", str(folder)], check=True,
                   stdout=subprocess.DEVNULL)
    return folder, time.perf_counter() - started


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "lookalike.app.cli", "serve",
                                str(folder), "--port", "0", "--processes", "1", "--quiet",
                                "--ui", "0"], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("lookalike ui on "):
            return process, line.split()[3]
    raise RuntimeError("serve --ui did not start")


def browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return driver


def first_screen_ms(driver, url: str) -> float:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60, poll_frequency=0.01).until(lambda d: d.execute_script(
        "return performance.getEntriesByName('lookalike:first-screen').length"))
    return driver.execute_script(
        "return performance.getEntriesByName('lookalike:first-screen')[0].startTime")


def measure(url: str, repeats: int, profile: Path) -> dict:
    driver = browser(profile)
    driver.set_script_timeout(90)
    runs = []
    try:
        for _ in range(repeats):
            first = first_screen_ms(driver, url)
            clusters = driver.execute_async_script(TIMED_TAB, "clusters", CLUSTERS_DONE)
            first_screen_ms(driver, url)
            drawn = driver.execute_async_script(TIMED_TAB, "map", MAP_DONE)
            refused = str(drawn[1]).startswith("refused")
            runs.append({"first_screen_ms": round(first, 1),
                         "clusters_ms": clusters[0] and round(clusters[0], 1),
                         "clusters": clusters[1], "map": drawn[1],
                         "map_ms": None if refused or drawn[0] is None else round(drawn[0], 1)})
    finally:
        driver.quit()
    summary = {key: round(statistics.median(r[key] for r in runs), 1)
               for key in ("first_screen_ms", "clusters_ms", "map_ms")
               if all(r[key] is not None for r in runs)}
    return {"median": summary, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", default=None, help="keep the collections here")
    parser.add_argument("--reuse", action="store_true",
                        help="serve the collections a run left in --work (with their maps)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="ui-bench-"))
    model = work / "model"
    if not (model / "model.json").exists():
        model.mkdir(parents=True, exist_ok=True)
        save_model(model)
    files = make_files(work / "files")
    report = {"repeats": args.repeats, "sizes": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        folder, seconds = build(work, n, files, model, args.reuse)
        process, url = serve(folder)
        try:
            result = measure(url, args.repeats, work / f"profile-{n}")
        finally:
            process.terminate()
            process.wait(timeout=60)
        report["sizes"][str(n)] = {"build_s": round(seconds, 1), **result}
        print(json.dumps({str(n): result["median"]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
