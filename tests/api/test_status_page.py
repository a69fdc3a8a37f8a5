"""The public status page in headless Chromium: its tiles show what the API answers, its
timeline is server-drawn SVG, and it says so clearly when the API is degraded or gone."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

from dr_assets.core.drills.drill import run_drill
from dr_assets.core.runtime import DRRuntime
from tests.support.api import data
from tests.support.browser import Browser
from tests.support.charts import drawn_charts
from tests.support.env import verified_backups
from tests.support.stack import Stack, free_port

QUERY = """{ globalStatus { healthScore status appsTotal appsMeetingRpo appsMeetingRto
    storageBytes backups24h { succeeded failed } activeAlerts }
  apps { name healthScore rpoMet rtoMet backupAgeHours storageBytes
    policy { rpoHours rtoHours critical } lastDrill { status restoreSeconds target } }
  backupTimeline(days: 30) { app succeeded failed days { day succeeded failed } } }"""
DASH = "\u2014"


class Tiles(HTMLParser):
    """Text of every data-field element, keyed by (app or "", field); templates skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.state = ""
        self.banner = ""
        self._app = ""
        self._field: tuple[str, str] | None = None
        self._in_banner = False
        self._in_template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self._in_template += 1
        if self._in_template:
            return
        if tag == "body":
            self.state = a.get("data-state", "")
        if a.get("id") == "banner" and "hidden" not in a:
            self._in_banner = True
        if "data-app" in a:
            self._app = a["data-app"]
        if "data-field" in a:
            self._field = (self._app, a["data-field"])
            self.values[self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._in_template -= 1
        if tag == "article":
            self._app = ""
        if tag == "div" and self._in_banner and self._field is None:
            self._in_banner = False
        self._field = None

    def handle_data(self, text: str) -> None:
        if self._in_template:
            return
        if self._field is not None:
            self.values[self._field] += text
        if self._in_banner:
            self.banner += text


def tiles(dom: str) -> Tiles:
    parser = Tiles()
    parser.feed(dom)
    return parser


def fixed(x: float, places: int = 1) -> str:
    """JavaScript's Number.toFixed: the exact binary value, ties away from zero."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def size(n: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while abs(n) >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{round(n)} B" if i == 0 else f"{fixed(n)} {units[i]}"


def seconds(s: float) -> str:
    if s < 120:
        return f"{fixed(s)} s"
    return f"{fixed(s / 60)} min" if s < 7200 else f"{fixed(s / 3600, 2)} h"


def expected_tiles(answer: dict[str, Any]) -> dict[tuple[str, str], str]:
    """What the page must show for one API answer, formatted as the page formats it."""
    g = answer["globalStatus"]
    out = {
        ("", "health-score"): fixed(g["healthScore"]), ("", "status"): g["status"],
        ("", "apps-meeting-rpo"): f"{g['appsMeetingRpo']} / {g['appsTotal']}",
        ("", "apps-meeting-rto"): f"{g['appsMeetingRto']} / {g['appsTotal']}",
        ("", "backups-24h"): f"{g['backups24h']['succeeded']} ok \u00b7 "
                             f"{g['backups24h']['failed']} failed",
        ("", "storage"): size(g["storageBytes"]), ("", "active-alerts"): str(g["activeAlerts"]),
    }
    timeline = {t["app"]: t for t in answer["backupTimeline"]}
    for a in answer["apps"]:
        name, p, d = a["name"], a["policy"], a["lastDrill"]
        age = a["backupAgeHours"]
        out |= {
            (name, "name"): name + (" (critical)" if p["critical"] else ""),
            (name, "health-score"): fixed(a["healthScore"]),
            (name, "backup-age"): "no verified backup" if age is None else
                                  f"{fixed(age)} h of {p['rpoHours']:g} h RPO",
            (name, "rpo"): "RPO met" if a["rpoMet"] else "RPO violated",
            (name, "last-drill"): "no drill yet" if d is None else "last drill failed"
                                  if d["status"] != "passed" else
                                  f"{seconds(d['restoreSeconds'])} of {p['rtoHours']:g} h RTO",
            (name, "rto"): "RTO met" if a["rtoMet"] else "RTO at risk",
            (name, "drill-kind"): DASH if d is None else "isolated (empty server)"
                                  if d["target"] == "isolated" else "same server",
            (name, "storage"): size(a["storageBytes"]),
            (name, "backups-30d"): f"{timeline[name]['succeeded']} ok \u00b7 "
                                   f"{timeline[name]['failed']} failed",
        }
    return out


def _backup_and_drill(stack: Stack) -> None:
    rt = DRRuntime.load(str(stack.config_path))
    verified_backups(rt, "shop")
    assert run_drill(rt.config.app("shop"), stores=rt.stores, keyring=rt.keyring,
                     catalog=rt.catalog).passed


def test_status_page_shows_what_the_api_answers(stack: Stack, browser: Browser,
                                                screenshot_dir: Path) -> None:
    _backup_and_drill(stack)
    page = httpx.get(f"{stack.api_url}/", timeout=30)  # no token
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "connect-src 'self'" in csp and "script-src 'sha256-" in csp
    assert "<script src" not in page.text and "http" not in page.text.split("<script>")[1]

    before = data(stack, QUERY)
    shown = tiles(browser.dom(f"{stack.api_url}/"))
    after = data(stack, QUERY)
    assert shown.state == "ok", shown.banner
    page_values = {k: v.strip() for k, v in shown.values.items() if k in expected_tiles(before)}
    assert page_values in (expected_tiles(before), expected_tiles(after)), (
        page_values, expected_tiles(before))
    shop = before["apps"][0]
    assert shop["lastDrill"]["status"] == "passed" and shop["backupAgeHours"] is not None
    assert shown.values[("shop", "last-drill")].endswith("of 4 h RTO")
    assert shop["lastDrill"]["target"] == "isolated"  # the default drill_target
    assert shown.values[("shop", "drill-kind")] == "isolated (empty server)"

    shot = browser.screenshot(f"{stack.api_url}/", screenshot_dir / "status-page.png")
    assert (shot.width, shot.height) == (1280, 1000) and shot.bytes > 20_000


def test_timeline_is_public_aggregate_svg(stack: Stack) -> None:
    _backup_and_drill(stack)
    answer = data(stack, "{ backupTimeline { app succeeded failed days { day succeeded } } }")
    [shop] = answer["backupTimeline"]
    assert len(shop["days"]) == 30 and shop["days"][-1]["succeeded"] >= 1
    assert shop["succeeded"] == sum(d["succeeded"] for d in shop["days"])
    resp = httpx.get(f"{stack.api_url}/status/timeline.svg?days=30", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(resp.text)
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "shop" in texts
    # The SVG counts the same backups (a backup may land between the two requests).
    drawn = next(t for t in texts if t and t.endswith("failed"))
    assert int(drawn.split(" ok")[0]) >= shop["succeeded"]
    for bad in ("0", "400", "soon"):
        assert httpx.get(f"{stack.api_url}/status/timeline.svg?days={bad}").status_code == 400
    errors = httpx.post(f"{stack.api_url}/graphql", json={
        "query": "{ backupTimeline(days: 0) { app } }"}).json()["errors"]
    assert "days must be between 1 and 366" in errors[0]["message"]


TREND_QUERY = """{ drills(app: "shop", first: 200) { id status restoreSeconds startedAt }
  backups(app: "shop", first: 200) { edges { node { backupId status storedBytes startedAt } } }
  globalStatus { storageBytes } }"""


Points = list[tuple[datetime, float]]


def _api_points(answer: dict[str, Any]) -> tuple[Points, Points]:
    """What the restore-time and backup-sizes charts must plot for that answer (the last 90
    days hold every drill and backup of this session's stack), oldest first."""
    drills = sorted((datetime.fromisoformat(d["startedAt"]), float(d["restoreSeconds"]))
                    for d in answer["drills"]
                    if d["status"] != "running" and d["restoreSeconds"] is not None)
    backups = sorted((datetime.fromisoformat(b["startedAt"]), float(b["storedBytes"]))
                     for b in (e["node"] for e in answer["backups"]["edges"])
                     if b["status"] in ("completed", "degraded", "deleted")
                     and b["storedBytes"] is not None)
    return drills, backups


def test_status_page_draws_the_trends_the_api_answers(stack: Stack, browser: Browser,
                                                      screenshot_dir: Path) -> None:
    _backup_and_drill(stack)
    viewer = stack.token("viewer")
    before = _api_points(data(stack, TREND_QUERY, token=viewer))
    dom = browser.dom(f"{stack.api_url}/#trends=shop")
    after_answer = data(stack, TREND_QUERY, token=viewer)
    after = _api_points(after_answer)
    charts = drawn_charts(dom)
    assert set(charts) == {("restore-time", "shop"), ("backup-sizes", "shop"),
                           ("storage", "estate")}, dom[-3000:]
    restore, sizes = charts["restore-time", "shop"], charts["backup-sizes", "shop"]
    assert (restore.values, sizes.values) in (before, after)
    assert restore.values and sizes.values
    ids = {e["node"]["backupId"] for e in after_answer["backups"]["edges"]}
    assert not any(i in dom for i in ids)  # public, as backupTimeline: no backup ids
    assert restore.attrs["role"] == "img" and restore.title == "shop: drill restore time"
    assert restore.attrs["aria-label"].startswith("shop: drill restore time: ")
    assert restore.attrs["data-limit"] == str(4 * 3600)  # shop's RTO, 4 h
    storage = charts["storage", "estate"]
    assert len(storage.points) == 90 and storage.title == "Storage used by the estate's backups"
    # Today's point is the estate's storage as globalStatus counts it.
    assert float(storage.points[-1]["data-value"]) == after_answer["globalStatus"]["storageBytes"]
    shot = browser.screenshot(f"{stack.api_url}/#trends=shop", screenshot_dir /
                              "status-page-trends.png", height=2000)
    assert shot.bytes > 20_000


def test_trend_routes_are_public_svg_with_bounded_days(stack: Stack) -> None:
    _backup_and_drill(stack)
    for path in ("/status/apps/shop/restore-time.svg", "/status/apps/shop/backup-sizes.svg",
                 "/status/storage.svg"):
        resp = httpx.get(f"{stack.api_url}{path}?days=30", timeout=30)  # no token
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
        assert resp.headers["x-content-type-options"] == "nosniff"
        svg = ET.fromstring(resp.text)
        assert svg.attrib["role"] == "img" and svg.attrib["aria-label"]
        assert svg.find("{http://www.w3.org/2000/svg}desc") is not None
        for bad in ("0", "367", "soon", "-1", "%D9%A3"):
            refused = httpx.get(f"{stack.api_url}{path}?days={bad}", timeout=30)
            assert refused.status_code == 400 and "days must be a whole number from 1 to 366" in refused.text
    resp = httpx.get(f"{stack.api_url}/status/apps/nope/restore-time.svg", timeout=30)
    assert resp.status_code == 404 and "no app named 'nope'" in resp.text
    storage = ET.fromstring(httpx.get(f"{stack.api_url}/status/storage.svg", timeout=30).text)
    assert len([e for e in storage.iter() if "data-value" in e.attrib]) == 90  # the default


def test_status_page_says_when_the_api_is_unreachable(stack: Stack, browser: Browser,
                                                      page_server: Callable[[str], str],
                                                      screenshot_dir: Path) -> None:
    """The same page, served elsewhere and pointed at an API port where nothing listens."""
    html = httpx.get(f"{stack.api_url}/", timeout=30).text
    meta = '<meta name="dr-api-base" content="">'
    assert meta in html
    url = page_server(html.replace(
        meta, f'<meta name="dr-api-base" content="http://127.0.0.1:{free_port()}">'))
    shown = tiles(browser.dom(url))
    assert shown.state == "unreachable"
    assert "Status unavailable: the disaster-recovery API could not be reached" in shown.banner
    assert shown.values[("", "health-score")].strip() == DASH
    assert not any(app for app, _ in shown.values)  # no app tiles were invented
    shot = browser.screenshot(url, screenshot_dir / "status-page-unreachable.png")
    assert shot.bytes > 5_000


def test_status_page_shows_a_degraded_health_check(api_without_dagster: str, browser: Browser,
                                                   screenshot_dir: Path) -> None:
    check = httpx.post(f"{api_without_dagster}/graphql",
                       json={"query": "{ healthCheck { ok components { name ok } } }"}).json()
    assert check["data"]["healthCheck"]["ok"] is False
    shown = tiles(browser.dom(f"{api_without_dagster}/"))
    assert shown.state == "degraded"
    assert "Degraded" in shown.banner and "dagster:" in shown.banner
    assert shown.values[("", "health-score")].strip() != DASH  # figures still shown
    assert ("shop", "health-score") in shown.values
    browser.screenshot(f"{api_without_dagster}/", screenshot_dir / "status-page-degraded.png")
