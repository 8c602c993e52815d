"""Screenshots of a running demo (``make demo``) for the README; also a quick look-over.

    .venv/bin/python docs/make_screenshots.py [http://127.0.0.1:8000]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).parent / "screenshots"
ROOT = Path(__file__).resolve().parent.parent
RUN = int(time.time())  # fresh participant ids on every run
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    password = (ROOT / "var" / "demo_admin_password").read_text().strip()
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{BASE}/accounts/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{BASE}/")
        page.screenshot(path=OUT / "dashboard-projects.png", full_page=True)

        # A few crowdworkers label posts with the keyboard, so the results have something in them.
        for n in range(4):
            worker = browser.new_page(viewport={"width": 390, "height": 844})
            worker.goto(f"{BASE}/p/demo-humor/?PROLIFIC_PID=shot-{RUN}-{n}&STUDY_ID=demo&SESSION_ID=s")
            if worker.get_by_role("button", name="I agree, continue").count():
                worker.get_by_role("button", name="I agree, continue").click()
                worker.get_by_role("button", name="Start").click()
            while "/done/" not in worker.url and worker.locator(".post-text").count():
                text = worker.inner_text(".post-text")
                funny = any(w in text.lower() for w in ("day", "tip", "haircut", "kettle", "zoom"))
                key = "1" if funny != (n == 3 and len(text) % 3 == 0) else "2"
                before = worker.inner_text(".progress-text")
                worker.keyboard.press(key)
                for _ in range(100):  # the next card, or the done page
                    worker.wait_for_timeout(100)
                    if "/done/" in worker.url or (
                        worker.locator(".progress-text").count()
                        and worker.inner_text(".progress-text") != before
                    ):
                        break
            worker.close()

        # Train a model from the Models tab on the demo's worker and wait for it.
        page.goto(f"{BASE}/projects/demo-humor/models/")
        if "No model trained yet" in page.inner_text("main"):
            page.fill("input[name=epochs]", "1")
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text("Succeeded").first.wait_for(timeout=300_000)
        for tab in ["", "data/", "launch/", "progress/", "quality/", "results/", "models/", "export/"]:
            page.goto(f"{BASE}/projects/demo-humor/{tab}")
            name = tab.strip("/") or "overview"
            page.screenshot(path=OUT / f"dashboard-{name}.png", full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{BASE}/p/demo-humor/?PROLIFIC_PID=screenshot-{RUN}&STUDY_ID=demo&SESSION_ID=s")
        phone.screenshot(path=OUT / "crowd-consent.png", full_page=True)
        phone.get_by_role("button", name="I agree, continue").click()
        phone.screenshot(path=OUT / "crowd-instructions.png", full_page=True)
        phone.get_by_role("button", name="Start").click()
        phone.wait_for_url("**/annotate/")
        phone.keyboard.press("1")
        phone.locator(".progress-text").filter(has_text="2 of").wait_for()
        phone.wait_for_timeout(300)
        phone.screenshot(path=OUT / "crowd-annotate-phone.png", full_page=True)

        wide = browser.new_page(viewport={"width": 1100, "height": 720})
        wide.goto(f"{BASE}/p/demo-humor/?PROLIFIC_PID=screenshot-{RUN}-wide&STUDY_ID=demo&SESSION_ID=s")
        wide.get_by_role("button", name="I agree, continue").click()
        wide.get_by_role("button", name="Start").click()
        wide.wait_for_url("**/annotate/")
        wide.screenshot(path=OUT / "crowd-annotate.png")
        browser.close()
    print(f"Screenshots in {OUT}")


if __name__ == "__main__":
    main()
