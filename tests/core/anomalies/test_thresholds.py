"""[anomalies] and [apps.NAME.anomalies] in dr.toml: estate defaults, per-app overrides key by
key, and every out-of-range value refused naming the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr_assets.core.errors import ConfigError
from dr_assets.core.policy import AnomalyThresholds, load_config
from tests.core.test_policy import GOOD


def _load(tmp_path: Path, extra: str, monkeypatch: pytest.MonkeyPatch) -> AnomalyThresholds:
    monkeypatch.setenv("SCHOLARSHIP_URL", "postgresql://u@db:5432/sch")
    path = tmp_path / "dr.toml"
    path.write_text(GOOD + extra)
    return load_config(path).apps["scholarship_api"].anomalies


def test_defaults_estate_wide_values_and_per_app_overrides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _load(tmp_path, "", monkeypatch) == AnomalyThresholds()
    d = AnomalyThresholds()
    assert (d.rows_drop_fraction, d.rows_drop_min, d.size_drop_fraction, d.history,
            d.min_history, d.ratio_rise, d.ratio_min) == (0.5, 1000, 0.5, 10, 3, 0.2, 0.45)
    per_app = _load(tmp_path, """
[apps.scholarship_api.anomalies]
rows_drop_min = 50
ratio_min = 1
[anomalies]
rows_drop_fraction = 0.3
history = 20
rows_drop_min = 5000
""", monkeypatch)
    assert per_app == AnomalyThresholds(rows_drop_fraction=0.3, history=20, rows_drop_min=50,
                                        ratio_min=1.0)
    assert isinstance(per_app.ratio_min, float)
    off = _load(tmp_path, "[apps.scholarship_api.anomalies]\nenabled = false\n", monkeypatch)
    assert not off.enabled


@pytest.mark.parametrize(("extra", "key", "fix"), [
    ("[anomalies]\nrows_drop_fraction = 1\n", "anomalies.rows_drop_fraction", "below 1"),
    ("[anomalies]\nrows_drop_fraction = 0\n", "anomalies.rows_drop_fraction", "above 0"),
    ("[anomalies]\nrows_drop_min = -1\n", "anomalies.rows_drop_min", "0 or more"),
    ("[anomalies]\nsize_drop_fraction = 1.5\n", "anomalies.size_drop_fraction", "below 1"),
    ("[anomalies]\nhistory = 0\n", "anomalies.history", "1 to 100"),
    ("[anomalies]\nhistory = 101\n", "anomalies.history", "1 to 100"),
    ("[anomalies]\nratio_rise = 0\n", "anomalies.ratio_rise", "above 0"),
    ("[anomalies]\nratio_min = 1.2\n", "anomalies.ratio_min", "at most 1"),
    ("[apps.scholarship_api.anomalies]\nvanished_min_rows = -5\n",
     "apps.scholarship_api.anomalies.vanished_min_rows", "0 or more"),
    ("[apps.scholarship_api.anomalies]\nmin_history = 12\n",
     "apps.scholarship_api.anomalies.min_history", "at most history"),
    ("[anomalies]\nhistory = 2\n", "anomalies.history", "at most history"),
    ("[anomalies]\nrows_drop_min = 1.5\n", "anomalies.rows_drop_min", "must be a int"),
    ("[anomalies]\nenabled = 1\n", "anomalies.enabled", "must be a bool"),
    ("[anomalies]\nrows_drop_percent = 50\n", "anomalies.rows_drop_percent", "unknown key"),
    ("[anomalies]\nratio_rise = true\n", "anomalies.ratio_rise", "must be a number"),
])
def test_out_of_range_thresholds_name_the_key_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, extra, monkeypatch)
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'dr.toml'}: {key}: ") and fix in text, text
