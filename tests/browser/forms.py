"""What a person does in a Prefect block form, in each of Prefect 3.8's two UIs.

V2 (the default React UI, under ``/v2``) labels its inputs properly, so fields are found by their
label. V1 (the Vue UI behind "Switch to V1 UI") does not tie labels to inputs, so a field is the
first input after its label. Optional fields carry an " (Optional)" suffix in both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

BLOCK_URL = re.compile(r".*/blocks/block/([0-9a-f-]{36})$")


class BlockForm(Protocol):
    ui: str

    def open_create(self, slug: str) -> None: ...
    def name(self, value: str) -> None: ...
    def text(self, label: str, value: str, optional: bool = True) -> None: ...
    def choose(self, label: str, option: str) -> None: ...
    def list_items(self, label: str, values: list[str]) -> None: ...
    def json(self, label: str, value: str) -> None: ...
    def pick_block(self, field: str, block_name: str, occurrence: int = 0) -> None: ...
    def clear_block(self, field: str, occurrence: int = 0) -> None: ...
    def open_dialect(self) -> None: ...
    def create(self) -> str: ...
    def open_edit(self, block_id: str) -> None: ...
    def save_edit(self) -> None: ...
    def input_top(self, label: str) -> float: ...
    def shot(self, path: Path) -> None: ...


class V2Form:
    ui = "v2"

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base

    def open_create(self, slug: str) -> None:
        self.page.goto(f"{self.base}/v2/blocks/catalog/{slug}/create")
        self.page.get_by_label("Name", exact=True).wait_for()

    def name(self, value: str) -> None:
        self.page.get_by_label("Name", exact=True).fill(value)

    def _field(self, label: str, optional: bool = True) -> Any:
        return self.page.get_by_label(f"{label} (Optional)" if optional else label, exact=True)

    def text(self, label: str, value: str, optional: bool = True) -> None:
        self._field(label, optional).fill(value)

    def choose(self, label: str, option: str) -> None:
        trigger = self.page.get_by_label(f"Select {label}", exact=True)
        for attempt in range(3):
            trigger.click()
            try:  # the list re-renders while it opens now and then; its option is then detached
                self.page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            except PlaywrightTimeoutError:
                self.page.keyboard.press("Escape")
                if attempt == 2:
                    raise
                continue
            if trigger.inner_text().strip() == option:
                return
        raise AssertionError(f"{label!r} did not take {option!r} (shows {trigger.inner_text()!r})")

    def _group(self, field: str) -> Any:
        return self.page.locator(
            f"xpath=//label[normalize-space()='{field} (Optional)']/ancestor::div[.//button[@role='tab']][1]"
        )

    def list_items(self, label: str, values: list[str]) -> None:
        group = self.page.locator(
            f"xpath=//label[normalize-space()='{label} (Optional)']/ancestor::div[.//fieldset][1]"
        )
        for number, value in enumerate(values):
            group.get_by_role("button", name="Add item").click()
            group.locator("fieldset textarea").nth(number).fill(value)

    def json(self, label: str, value: str) -> None:
        editor = self.page.locator(  # a code editor (contenteditable) in the field's fieldset
            f"xpath=//label[normalize-space()='{label} (Optional)']/ancestor::div[.//fieldset][1]"
            "//fieldset//*[@role='textbox']"
        )
        editor.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(value)  # typed key by key, the editor would close brackets

    def pick_block(self, field: str, block_name: str, occurrence: int = 0) -> None:
        group = self._group(field)
        group.get_by_role("tab", name="VaultCredentials").click()
        group.get_by_label("Select a block").click()
        self.page.get_by_role("option", name=block_name, exact=True).click()

    def clear_block(self, field: str, occurrence: int = 0) -> None:
        self._group(field).get_by_role("tab", name="None").click()

    def open_dialect(self) -> None:
        self.page.get_by_role("tab", name="Custom dialect").click()

    def create(self) -> str:
        return submit_new(self.page, self.page.get_by_role("button", name="Save"))

    def open_edit(self, block_id: str) -> None:
        self.page.goto(f"{self.base}/v2/blocks/block/{block_id}/edit")
        self.page.get_by_role("button", name="Save").wait_for()
        self.page.wait_for_timeout(500)  # the form fills in its values after the document loads

    def save_edit(self) -> None:
        click_until_saved(self.page, self.page.get_by_role("button", name="Save"))

    def input_top(self, label: str) -> float:
        return self._field(label).bounding_box()["y"]

    def shot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), full_page=True)


class V1Form:
    ui = "v1"

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base

    def open_create(self, slug: str) -> None:
        self.page.goto(f"{self.base}/blocks/catalog/{slug}/create")
        self._after("Block Name", "input").wait_for()

    def _after(self, label: str, kind: str = "*[self::textarea or self::input]") -> Any:
        return self.page.locator(f"xpath=(//label[normalize-space()='{label}'])[1]/following::{kind}[1]")

    def name(self, value: str) -> None:
        self._after("Block Name", "input").fill(value)

    def text(self, label: str, value: str, optional: bool = True) -> None:
        self._after(f"{label} (Optional)" if optional else label).fill(value)

    def _select(self, label: str, occurrence: int = 0) -> Any:
        return self.page.locator(
            f"xpath=(//label[normalize-space()='{label}'])[{occurrence + 1}]"
            "/following::button[contains(@class,'p-select-button__control')][1]"
        )

    def _pick(self, select: Any, option: str) -> None:
        select.focus()
        self.page.keyboard.press("Space")  # the V1 select opens on Space (a click is not enough)
        exact = re.compile(f"^{re.escape(option)}$")
        self.page.locator(".p-select-option__text", has_text=exact).first.click()

    def choose(self, label: str, option: str) -> None:
        self._pick(self._select(f"{label} (Optional)"), option)

    def list_items(self, label: str, values: list[str]) -> None:
        self.json(label, json.dumps(values))  # V1 edits a list as JSON text

    def json(self, label: str, value: str) -> None:
        self._after(f"{label} (Optional)", "textarea").fill(value)

    def pick_block(self, field: str, block_name: str, occurrence: int = 0) -> None:
        # V1 heads both nested Vault fields "VaultCredentials"; ``occurrence`` tells them apart.
        self.page.get_by_role("button", name="VaultCredentials", exact=True).nth(occurrence).click()
        self._pick(self._select("VaultCredentials (Optional)", occurrence), block_name)

    def clear_block(self, field: str, occurrence: int = 0) -> None:
        self.page.get_by_role("button", name="null", exact=True).nth(occurrence).click()

    def open_dialect(self) -> None:
        self.page.get_by_role("button", name="Custom dialect", exact=True).click()

    def create(self) -> str:
        return submit_new(self.page, self.page.get_by_role("button", name="Create", exact=True))

    def open_edit(self, block_id: str) -> None:
        self.page.goto(f"{self.base}/blocks/block/{block_id}/edit")
        self.page.get_by_role("button", name="Save", exact=True).wait_for()
        self.page.wait_for_timeout(500)

    def save_edit(self) -> None:
        click_until_saved(self.page, self.page.get_by_role("button", name="Save", exact=True))

    def input_top(self, label: str) -> float:
        return self._after(f"{label} (Optional)").bounding_box()["y"]

    def shot(self, path: Path) -> None:
        # V1 scrolls inside its layout, so a full-page shot is one screen; this is what shows first.
        self.page.screenshot(path=str(path), full_page=True)


def form_for(ui: str, page: Any, base: str) -> BlockForm:
    return V2Form(page, base) if ui == "v2" else V1Form(page, base)


def _is_block_write(request: Any) -> bool:
    return "/api/block_documents" in request.url and request.method in ("POST", "PATCH")


def submit_new(page: Any, button: Any) -> str:
    """Click Create/Save and return the new block's id from the page it lands on. A click that
    reaches the form before it has finished wiring its handlers sends nothing (seen in CI on a
    freshly opened V2 form); only then is it clicked again, so no block is ever sent twice."""
    for attempt in range(3):
        try:
            with page.expect_request(_is_block_write, timeout=10_000):
                button.click()
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    page.wait_for_url(BLOCK_URL)
    return BLOCK_URL.match(page.url).group(1)  # type: ignore[union-attr]


def click_until_saved(page: Any, button: Any) -> None:
    """Click Save and wait for the block page. The SQLite test server now and then answers a
    save with a 500 under load (the UI shows "Something went wrong" and stays on the form); a
    person clicks Save again, and so does this, once."""
    button.click()
    try:
        page.wait_for_url(BLOCK_URL, timeout=20_000)
    except Exception:
        if page.get_by_text("Something went wrong").count() == 0:
            raise
        button.click()
        page.wait_for_url(BLOCK_URL)
