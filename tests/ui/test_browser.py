"""End to end in a real headless Chromium against `lookalike serve --ui`: what a person does
with the web app, each step waited on by a condition, never a sleep."""

from __future__ import annotations

import csv

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from lookalike.clients import Filter
from lookalike.common.manifest_payload import labels_cell

HOSTILE = "<img src=x onerror=alert(1)>"
FIRST_RING = """
const c = arguments[0], px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const r = c.getBoundingClientRect();  // canvas pixels are CSS pixels here (no DPR scaling)
for (let i = 0; i < px.length; i += 4)
  if (px[i] === 0 && px[i + 1] === 0 && px[i + 2] === 0)
    return [r.left + (i / 4) % c.width, r.top + Math.floor(i / 4 / c.width)];
return null;
"""


def wait(driver, condition, timeout: float = 30):
    return WebDriverWait(driver, timeout).until(condition)


def css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def text_of(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


@pytest.fixture
def page(browser, stack):
    """The app's page, loaded fresh and ready (its scripts ran, the header was filled)."""
    browser.get(stack.url)
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    wait(browser, lambda d: "images" in text_of(d, "h-count"))
    return browser


def tab(driver, name: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#tabs [data-view="{name}"]').click()


def results(driver) -> list[str]:
    return [t.get_attribute("data-id") for t in css(driver, "#results .tile")]


def test_header_shows_the_collection(page, sdk):
    info = sdk.info()
    assert text_of(page, "h-count") == f"{info.count} images"
    assert text_of(page, "h-clusters") == f"{info.clusters} clusters"
    assert "SERVING" in text_of(page, "h-health")
    assert text_of(page, "h-store") == "store local"


def test_search_by_upload_then_by_click(page, stack, screenshot):
    image = sorted(stack.images.glob("*.png"))[3]
    page.find_element(By.ID, "file").send_keys(str(image))
    wait(page, lambda d: "nearest" in text_of(d, "query-what"))
    first = css(page, "#results .tile")[0]
    assert first.find_element(By.CSS_SELECTOR, ".path").get_attribute("title") == str(image)
    assert first.find_element(By.CSS_SELECTOR, ".dist").text == "d = 0.0000"
    wait(page, lambda d: all(i.get_attribute("complete") == "true" and
                             int(i.get_attribute("naturalWidth")) > 0
                             for i in css(d, "#results .tile img")[:8]))
    screenshot("search")
    clicked = css(page, "#results .tile")[1]
    clicked_id = clicked.get_attribute("data-id")
    clicked.find_element(By.TAG_NAME, "img").click()
    wait(page, lambda d: text_of(d, "query-what").startswith(f"image {clicked_id}:"))
    assert clicked_id not in results(page) and len(results(page)) > 0


def test_open_a_cluster_and_page_through_it(page, sdk):
    sizes = sdk.info().cluster_sizes
    tab(page, "clusters")
    wait(page, lambda d: len(css(d, ".crow")) == len(sizes))
    big = max(range(len(sizes)), key=sizes.__getitem__)
    row = css(page, ".crow")[big]
    wait(page, lambda d: len(row.find_elements(By.CSS_SELECTOR, ".strip .tile")) > 0)
    row.find_element(By.CSS_SELECTOR, "button.open").click()
    wait(page, lambda d: len(css(d, "#cluster-grid .tile")) == sizes[big])
    shown = {t.get_attribute("data-id") for t in css(page, "#cluster-grid .tile")}
    assert shown == {i.id for i in sdk.browse(Filter(clusters=[big]), page_size=1000).items}


def test_rename_a_cluster(page, sdk, screenshot):
    tab(page, "clusters")
    wait(page, lambda d: len(css(d, ".crow")) > 0)
    row = css(page, ".crow")[0]
    row.find_element(By.CSS_SELECTOR, "button.rename-btn").click()
    box = row.find_element(By.CSS_SELECTOR, "input.rename")
    box.clear()
    box.send_keys("round things", Keys.ENTER)
    wait(page, lambda d: row.find_element(By.CSS_SELECTOR, ".name").text == "round things")
    assert sdk.info().cluster_names[0] == "round things"
    wait(page, lambda d: all(i.get_attribute("complete") == "true"
                             for i in css(d, ".strip img")))
    screenshot("clusters")


def test_a_hostile_label_is_shown_as_text(page, stack, sdk):
    page.find_element(By.ID, "file").send_keys(str(sorted(stack.images.glob("*.jpg"))[0]))
    wait(page, lambda d: len(results(d)) > 0)
    chosen = css(page, "#results .tile")[0]
    chosen_id = chosen.get_attribute("data-id")
    chosen.find_element(By.CSS_SELECTOR, ".pick").click()
    wait(page, lambda d: text_of(d, "sel-count") == "1 selected")
    page.find_element(By.ID, "label-input").send_keys(HOSTILE)
    page.find_element(By.ID, "label-add").click()
    try:
        wait(page, lambda d: HOSTILE in [c.text for c in css(
            d, f'#results .tile[data-id="{chosen_id}"] .chip')])
        with pytest.raises(NoAlertPresentException):
            page.switch_to.alert.text  # noqa: B018 - an alert would mean the markup ran
        assert not css(page, 'img[src="x"]')
        assert HOSTILE in sdk.get([chosen_id])[0][0].labels
    finally:
        sdk.update(ids=[chosen_id], remove_labels=[HOSTILE])


def test_label_a_selection_undo_and_export_the_csv(page, sdk):
    tab(page, "clusters")
    wait(page, lambda d: len(css(d, ".crow .strip .tile")) > 3)
    picks = css(page, ".crow .strip .tile .pick")[:3]
    ids = [p.find_element(By.XPATH, "..").get_attribute("data-id") for p in picks]
    for pick in picks:
        pick.click()
    wait(page, lambda d: text_of(d, "sel-count") == "3 selected")
    page.find_element(By.ID, "label-input").send_keys("picked, by hand")
    page.find_element(By.ID, "label-add").click()
    wait(page, lambda d: "labelled 3 images" in text_of(d, "status"))
    assert {i.id for i in sdk.browse(Filter(all_labels=["picked", "by hand"])).items} == set(ids)
    page.find_element(By.ID, "export").click()
    exported = page.downloads / "labels.csv"
    wait(page, lambda d: exported.exists() and not list(page.downloads.glob("*.crdownload")))
    rows = list(csv.DictReader(exported.open(newline="")))
    assert len(rows) == sdk.count()
    assert {r["id"] for r in rows if "picked" in labels_cell(r["labels"], "")} == set(ids)
    exported.unlink()
    wait(page, lambda d: d.find_element(By.ID, "undo").is_enabled())
    page.find_element(By.ID, "undo").click()
    wait(page, lambda d: "undone" in text_of(d, "status"))
    assert sdk.count(Filter(any_labels=["picked", "by hand"])) == 0


def test_label_a_box_selection_on_the_map(page, sdk, screenshot):
    tab(page, "map")
    wait(page, lambda d: "points" in text_of(d, "map-info"))
    page.find_element(By.CSS_SELECTOR, '#map-mode option[value="box"]').click()
    canvas = page.find_element(By.ID, "map")
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(page).move_to_element_with_offset(canvas, -w // 2 + 2, -h // 2 + 2) \
        .click_and_hold().move_by_offset(w // 2, h - 6).release().perform()
    wait(page, lambda d: text_of(d, "sel-count") != "0 selected")
    chosen = int(text_of(page, "sel-count").split()[0])
    assert 0 < chosen < sdk.count()
    page.find_element(By.ID, "label-input").send_keys("left half")
    page.find_element(By.ID, "label-add").click()
    wait(page, lambda d: f"labelled {chosen} images" in text_of(d, "status"))
    assert sdk.count(Filter(any_labels=["left half"])) == chosen
    page.find_element(By.CSS_SELECTOR, '#map-colour option[value="label"]').click()
    page.find_element(By.ID, "map-label").send_keys("left half", Keys.ENTER)
    wait(page, lambda d: f"{chosen} of" in text_of(d, "map-info"))
    # Hover a selected point (the first pixel of a black selection ring, read off the
    # canvas): the tip shows its thumbnail and id.
    x, y = page.execute_script(FIRST_RING, canvas)
    mouse = ActionBuilder(page)
    mouse.pointer_action.move_to_location(x + 5, y + 5)
    mouse.perform()
    wait(page, lambda d: d.find_element(By.ID, "map-tip").is_displayed() and d.execute_script(
        "const i = document.getElementById('map-tip-img'); return i.complete && "
        "i.naturalWidth > 0"))
    hovered = text_of(page, "map-tip-text").split(" · ")[0]
    assert "left half" in sdk.get([hovered])[0][0].labels
    screenshot("map")
    sdk.update(filter=Filter(any_labels=["left half"]), remove_labels=["left half"])


def test_a_deleted_file_shows_a_placeholder(page, sdk, tmp_path, screenshot):
    """An image added with its path, whose file is then deleted: its tile is the
    placeholder, and the page shows no error."""
    from benchmarks.testbed import make_images

    stored, = make_images(tmp_path / "new", count=1, seed=99)
    query = tmp_path / f"copy{stored.suffix}"
    query.write_bytes(stored.read_bytes())
    added, = sdk.add([stored], ids=["deleted-file"], paths=[str(stored)])
    stored.unlink()
    try:
        page.find_element(By.ID, "file").send_keys(str(query))
        tile = '#results .tile[data-id="deleted-file"] img'
        wait(page, lambda d: css(d, tile) and css(d, tile)[0].get_attribute("complete") ==
             "true" and int(css(d, tile)[0].get_attribute("naturalWidth")) > 0)
        status = page.execute_async_script(
            "const done = arguments[1];"
            "fetch(arguments[0]).then(r => done([r.status, r.headers.get('x-thumb-status')]))",
            css(page, tile)[0].get_attribute("src"))
        assert status == [200, "file_missing"]
        assert not css(page, "#status:not([hidden])")
    finally:
        sdk.delete(["deleted-file"])


def test_lasso_on_the_map_then_search_by_a_point(page, sdk):
    tab(page, "map")
    wait(page, lambda d: "points" in text_of(d, "map-info"))
    page.find_element(By.CSS_SELECTOR, '#map-mode option[value="lasso"]').click()
    canvas = page.find_element(By.ID, "map")
    left, top, width, height = page.execute_script(
        "const r = arguments[0].getBoundingClientRect(); "
        "return [r.left, r.top, r.width, r.height];", canvas)
    corners = [(int(left + 3), int(top + 3)), (int(left + width - 3), int(top + 3)),
               (int(left + width - 3), int(top + height - 3)),
               (int(left + 3), int(top + height - 3))]
    mouse = ActionBuilder(page)
    mouse.pointer_action.move_to_location(*corners[0]).pointer_down()
    for x, y in corners[1:]:
        mouse.pointer_action.move_to_location(x, y)
    mouse.pointer_action.pointer_up()
    mouse.perform()
    wait(page, lambda d: text_of(d, "sel-count") == f"{sdk.count()} selected")
    x, y = page.execute_script(FIRST_RING, canvas)
    mouse = ActionBuilder(page)
    mouse.pointer_action.move_to_location(x + 5, y + 5)
    mouse.perform()
    wait(page, lambda d: d.find_element(By.ID, "map-tip").is_displayed())
    point = text_of(page, "map-tip-text").split(" · ")[0]
    ActionChains(page).double_click().perform()
    wait(page, lambda d: text_of(d, "query-what").startswith(f"image {point}:"))
    assert point not in results(page) and results(page)
    page.find_element(By.ID, "sel-clear").click()
