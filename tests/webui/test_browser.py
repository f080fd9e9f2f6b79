"""Tier 3 in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by
Selenium against the live WebUI at CLIP_SKIP_WEBUI_URL. Skipped without the URL, Selenium or the driver.

One user's session, in order: open the panel, type a schedule (status and preview follow), type an
invalid one (the error shows, the page still works), move Sampling steps (the preview follows),
press Inspect layers (a picture appears), Generate (the infotext under the image carries the
schedule), then PNG Info → "Send to txt2img" (the panel's fields come back). Works on A1111
(Gradio 3.41) and Forge (Gradio 4.40): only elem_ids are used, and the tab's own inputs are set the
way a user's typing sets them (input and change events).

CLIP_SKIP_SCREENSHOTS=DIR also saves small PNGs of the panel and the inspector there.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from test_live import BASE, URL, call, forge_like, txt2img

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

DRIVER = os.environ.get("CLIP_SKIP_CHROMEDRIVER") or shutil.which("chromedriver")
BROWSER = os.environ.get("CLIP_SKIP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = os.environ.get("CLIP_SKIP_SCREENSHOTS", "")
pytestmark = [
    pytest.mark.webui,
    pytest.mark.skipif(not URL, reason="CLIP_SKIP_WEBUI_URL is not set"),
    pytest.mark.skipif(not (DRIVER and BROWSER), reason="chromium and chromium-driver are not installed"),
]
SCHEDULE = "2@40%, 1"


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1800",
        f"--user-data-dir={tempfile.mkdtemp(prefix='clip-skip-chromium-')}",
    ):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    except WebDriverException as error:
        pytest.skip(f"chromium would not start: {error.msg}")
    driver.get(URL)
    WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.ID, "clip_skip_txt2img_enabled"))
    yield driver
    driver.quit()


def wait(driver, condition, timeout=60, what="the page"):
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: condition(), message=f"waiting for {what}"
    )


def html_of(driver, elem_id):
    return driver.execute_script(f"return (document.getElementById('{elem_id}') || {{}}).innerHTML || ''")


def text_of(driver, elem_id):
    return driver.execute_script(f"return (document.getElementById('{elem_id}') || {{}}).innerText || ''")


def field(driver, elem_id):
    return driver.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea, #{elem_id} input:not([type=range])")


def type_into(driver, elem_id, text):
    box = field(driver, elem_id)
    box.clear()
    box.send_keys(text)


def set_number(driver, elem_id, value):
    """A slider's number box, set as typing sets it (Gradio 3.41 and 4.40 listen to input/change)."""
    driver.execute_script(
        """const box = document.querySelector(`#${arguments[0]} input[type=number]`);
        box.value = arguments[1];
        box.dispatchEvent(new Event('input', {bubbles: true}));
        box.dispatchEvent(new Event('change', {bubbles: true}));
        box.dispatchEvent(new Event('blur', {bubbles: true}));""",
        elem_id,
        str(value),
    )


def open_tab(driver, name):
    button = driver.find_element(By.XPATH, f"//div[@id='tabs']//button[normalize-space()='{name}']")
    driver.execute_script("arguments[0].click()", button)


def shot(driver, elem_id, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        element = driver.find_element(By.ID, elem_id)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.screenshot(str(Path(SHOTS) / name))


def test_one_users_session(browser):
    d = browser
    status = "clip_skip_txt2img_status"
    # the panel opens (its accordion is its Enabled box)
    accordion = d.find_element(By.CSS_SELECTOR, "#clip_skip_txt2img_enabled .label-wrap")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", accordion)
    wait(d, lambda: field(d, "clip_skip_txt2img_positive").is_displayed(), what="the panel to open")

    # a schedule: status line and preview change, no generation
    before = html_of(d, status)
    type_into(d, "clip_skip_txt2img_positive", SCHEDULE)
    wait(d, lambda: "skip 2 on steps 1-8, skip 1 on steps 9-20" in html_of(d, status), what="the preview")
    assert html_of(d, status) != before
    assert "<svg" in html_of(d, status)
    assert "source: panel" in html_of(d, status)
    shot(d, "clip_skip_txt2img_enabled", "panel.png")

    # invalid input: the error replaces the chart, the page goes on working
    type_into(d, "clip_skip_txt2img_positive", "2@@")
    wait(d, lambda: "unexpected" in html_of(d, status), what="the error")
    assert "clip-skip-preview" not in html_of(d, status)
    assert d.find_element(By.ID, "txt2img_generate").is_enabled()
    type_into(d, "clip_skip_txt2img_positive", SCHEDULE)
    wait(d, lambda: "clip-skip-preview" in html_of(d, status), what="the preview back")

    # Sampling steps moves: the preview follows
    set_number(d, "txt2img_steps", 10)
    wait(d, lambda: "skip 2 on steps 1-4, skip 1 on steps 5-10" in html_of(d, status), what="10 steps")

    # Inspect layers: a picture of the loaded model's layers for the tab's prompt
    type_into(d, "txt2img_prompt", "a photo of a red cat sitting on a wooden chair")
    d.execute_script("arguments[0].click()", d.find_element(By.ID, "clip_skip_txt2img_inspect"))
    wait(
        d,
        lambda: "clip-skip-inspector" in html_of(d, "clip_skip_txt2img_layers"),
        timeout=120,
        what="the inspector",
    )
    assert "Each cell is the cosine similarity" in html_of(d, "clip_skip_txt2img_layers")
    shot(d, "clip_skip_txt2img_layers", "inspector.png")

    # Generate (tiny, on CPU): the infotext under the image carries the schedule
    for elem_id, value in (("txt2img_width", 64), ("txt2img_height", 64), ("txt2img_steps", 2)):
        set_number(d, elem_id, value)
    time.sleep(1)
    d.execute_script("arguments[0].click()", d.find_element(By.ID, "txt2img_generate"))
    wait(
        d,
        lambda: f'Clip skip schedule: "{SCHEDULE}"' in text_of(d, "html_info_txt2img"),
        timeout=600,
        what="the generation's infotext",
    )
    assert "Clip skip source: panel" in text_of(d, "html_info_txt2img")


def test_png_info_send_to_txt2img_restores_the_panel(browser, tmp_path):
    d = browser
    forge = {"hr_additional_modules": []} if forge_like() else {}
    answer = txt2img({"enabled": True, "positive": "3@50%, 1", "negative": "2"}, **forge)
    image = tmp_path / "made.png"
    image.write_bytes(base64.b64decode(answer["images"][0]))
    type_into(d, "clip_skip_txt2img_positive", "")
    open_tab(d, "PNG Info")
    upload = d.find_element(By.CSS_SELECTOR, "#pnginfo_image input[type=file]")
    upload.send_keys(str(image))
    wait(
        d, lambda: 'Clip skip schedule: "3@50%, 1"' in text_of(d, "tab_pnginfo"), timeout=60, what="PNG Info"
    )
    d.execute_script("arguments[0].click()", d.find_element(By.ID, "txt2img_tab"))
    wait(
        d,
        lambda: field(d, "clip_skip_txt2img_positive").get_attribute("value") == "3@50%, 1",
        what="the paste",
    )
    assert field(d, "clip_skip_txt2img_negative").get_attribute("value") == "2"
    assert (
        call("/sdapi/v1/options")[1]["CLIP_stop_at_last_layers"]
        == BASE["override_settings"]["CLIP_stop_at_last_layers"]
    )


def test_dark_theme_text_takes_the_themes_colour(browser):
    d = browser
    d.get(URL + "/?__theme=dark")
    wait(d, lambda: d.find_elements(By.ID, "clip_skip_txt2img_enabled"), timeout=180, what="the page")
    accordion = d.find_element(By.CSS_SELECTOR, "#clip_skip_txt2img_enabled .label-wrap")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click()", accordion)
    wait(d, lambda: field(d, "clip_skip_txt2img_positive").is_displayed(), what="the panel to open")
    type_into(d, "clip_skip_txt2img_positive", "3@50%, 2")
    wait(d, lambda: "skip 3 on steps 1-" in html_of(d, "clip_skip_txt2img_status"), what="the preview")
    fill, body = d.execute_script(
        """const text = document.querySelector('#clip_skip_txt2img_status svg text.csc-txt2img-t');
        const probe = document.createElement('span');
        probe.style.color = 'var(--body-text-color)';
        text.closest('.gradio-container, body').appendChild(probe);
        const colour = getComputedStyle(probe).color;
        probe.remove();
        return [getComputedStyle(text).fill, colour];"""
    )
    assert fill == body  # the theme's own text colour, not the light fallback
    assert fill != "rgb(31, 41, 55)"
    shot(d, "clip_skip_txt2img_enabled", "panel-dark.png")
