"""Web-app fixtures: a real `lookalike serve --ui` over a small collection with image files,
the app in-process against that server (Starlette's TestClient), and a real headless
Chromium driven through Selenium."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.testbed import make_images

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
SCREENSHOTS_ENV = "LOOKALIKE_SCREENSHOTS"  # a folder: the browser tests write their PNGs there


@dataclass(frozen=True)
class Stack:
    """A running `lookalike serve DIR --ui 0`: its gRPC target, the web app's URL, the write
    token the app was given, and the folders of the collection and its images."""

    target: str
    url: str
    token: str
    collection: Path
    images: Path
    process: subprocess.Popen


@pytest.fixture(scope="session")
def ui_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(collection, images): 40 generated images in 4 clusters, the files kept beside it."""
    from lookalike.encoder.train import TrainConfig
    from lookalike.pipeline.build import BuildConfig, build_collection

    root = tmp_path_factory.mktemp("ui")
    make_images(root / "images", count=40)
    config = BuildConfig(clusters=4, train_config=TrainConfig(epochs=1, batch_size=16))
    build_collection(root / "images", root / "collection", config)
    return root / "collection", root / "images"


def start_serve(collection: Path, *flags: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """`lookalike serve` with flags; returns it and what it announced ("serving", "ui")."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lookalike.app.cli", "serve", str(collection), "--port", "0",
         "--quiet", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said: dict[str, str] = {}
    while len(said) < 2:
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise RuntimeError(f"serve did not start: {process.stderr.read()[-2000:]}")
        if line.startswith("lookalike serving on "):
            said["serving"] = line.split()[-1]
        elif line.startswith("lookalike ui on "):
            said["ui"] = line.split()[3]
    return process, said


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def stack(ui_collection: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    """The collection served with tokens required; the web app holds the write token."""
    collection, images = ui_collection
    token = "w-" + secrets.token_hex(12)
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    tokens.write_text(f"read r-{secrets.token_hex(12)}\nwrite {token}\n")
    process, said = start_serve(collection, "--processes", "1", "--ui", "0",
                                "--token-file", str(tokens))
    try:
        yield Stack(said["serving"], said["ui"], token, collection, images, process)
    finally:
        stop(process)


@pytest.fixture
def make_web(stack: Stack):
    """make_web(**UiConfig fields) -> a TestClient of a fresh app against the stack's
    server; its lifespan (the SDK channel) opens and closes with the test."""
    from starlette.testclient import TestClient

    from lookalike.clients.channel import make_config
    from lookalike.ui.app import create_app
    from lookalike.ui.config import UiConfig

    opened: list[TestClient] = []

    def make(**fields) -> TestClient:
        fields.setdefault("target", stack.target)
        fields.setdefault("client", make_config(token=stack.token))
        fields.setdefault("allowed_hosts", ("testserver",))
        client = TestClient(create_app(UiConfig(**fields)), raise_server_exceptions=False)
        client.__enter__()
        client.headers["x-csrf-token"] = client.app.state.csrf
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def web(make_web):
    """The app with default settings, its CSRF header already set."""
    return make_web()


@pytest.fixture
def sdk(stack: Stack):
    """A sync Client of the stack's server with the write token, to check what the app did."""
    from lookalike.clients import Client

    with Client(stack.target, token=stack.token) as client:
        yield client


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """A real headless Chromium (Debian's) through chromedriver. Missing, the test FAILS
    with the command that installs it: `make test` runs it when it can."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"the browser tests need {CHROMIUM} and {CHROMEDRIVER}: run `{INSTALL}` "
                    "(as root; `make test` does it when it can)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser):
    """screenshot(name): with $LOOKALIKE_SCREENSHOTS set (a folder, e.g. docs/), the browser's
    window is saved there as ui-<name>.png, for the docs."""
    folder = os.environ.get(SCREENSHOTS_ENV)

    def take(name: str) -> Path | None:
        if not folder:
            return None
        path = Path(folder) / f"ui-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(path))
        return path

    return take
