"""Seeded generator of realistic impression events (the DESIGN.md schema) with a documented latent
install propensity; see models/README.md ("Generative process") for the story behind each number.

`generate(n, seed)` returns a pandas DataFrame sorted by time: the event fields (lastStart is None
for new users), the label `install`, and the generator's true probability `p_true`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

START = np.datetime64("2024-03-01T00:00:00", "ms")
DAYS = 35  # five weeks

COUNTRIES = [  # (code, share, effect on the install logit)
    ("US", .22, .35), ("IN", .09, -.45), ("BR", .07, -.10), ("GB", .05, .30), ("DE", .05, .25),
    ("JP", .05, .40), ("FR", .04, .15), ("RU", .04, -.30), ("MX", .04, -.05), ("ID", .04, -.35),
    ("KR", .03, .30), ("CA", .03, .30), ("TR", .03, -.20), ("IT", .025, .10), ("ES", .025, .05),
    ("PH", .02, -.30), ("VN", .02, -.35), ("TH", .02, -.15), ("AU", .02, .30), ("PL", .015, .00),
    ("NL", .015, .20), ("SA", .015, .10), ("EG", .015, -.40), ("AR", .015, -.10), ("UA", .01, -.25),
    ("SE", .01, .20), ("CH", .01, .30), ("TW", .01, .25), ("NG", .01, -.50), ("PK", .01, -.50),
    ("ZA", .01, -.15), ("CL", .01, -.05), ("CO", .01, -.10), ("MY", .01, -.10), ("BE", .01, .15),
]
IOS_VERSIONS = ["10.3.3", "11.4.1", "12.5.7", "13.7", "14.8.1", "15.7.9", "16.7.2", "17.1.2", "17.2"]
IOS_SHARES = [.01, .03, .06, .08, .12, .20, .25, .17, .08]
ANDROID_VERSIONS = ["4.4.2", "5.1.1", "6.0.1", "7.0", "8.1.0", "9", "10", "11", "12", "13", "14"]
ANDROID_SHARES = [.01, .02, .03, .05, .08, .11, .15, .17, .16, .13, .09]


def _zipf_weights(n: int, a: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** a
    return w / w.sum()


def _hex_ids(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    digits = np.frombuffer(b"0123456789abcdef", dtype="S1")
    chars = digits[rng.integers(0, 16, size=(n, length))]
    return chars.view(f"S{length}").ravel().astype(str)


def _iso(ms: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")
    return np.char.add(text, "+00:00")


def generate(n: int, seed: int = 7, install_rate: float = 0.012) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    # Catalogues: campaigns, source games and device models have Zipf-like popularity.
    n_campaigns, n_games = 3000, 6000
    campaign_ids = _hex_ids(rng, n_campaigns, 24)
    campaign_quality = rng.normal(0.0, 0.55, n_campaigns)
    campaign_platform = rng.choice([0, 1, 2], n_campaigns, p=[.45, .35, .20])  # android, ios, both
    campaign_home = rng.integers(0, len(COUNTRIES), size=(n_campaigns, 3))    # 3 target countries
    game_ids = rng.choice(np.arange(100_000, 2_000_000), n_games, replace=False)
    game_effect = rng.normal(0.0, 0.35, n_games)
    ios_devices = np.array([f"iPhone{g},{m}" for g in range(8, 16) for m in range(1, 5)]
                           + [f"iPad{g},{m}" for g in range(6, 14) for m in range(1, 4)])
    brands = ["SM-A", "SM-G", "SM-N", "Redmi Note ", "moto g", "Pixel ", "CPH", "V20", "RMX", "TECNO KE"]
    android_devices = np.array([f"{b}{k}" for b in brands for k in range(10, 90)])
    ios_device_w = _zipf_weights(len(ios_devices), 1.0)
    android_device_w = _zipf_weights(len(android_devices), 1.1)
    rng.shuffle(ios_device_w)
    rng.shuffle(android_device_w)
    device_effect_ios = rng.normal(0.0, 0.15, len(ios_devices))
    device_effect_android = rng.normal(0.0, 0.15, len(android_devices))

    # Timestamps over five weeks with daily seasonality (evening peak) and a weekend lift.
    day = rng.integers(0, DAYS, n)
    weekday = (day + 4) % 7  # 2024-03-01 is a Friday (Monday = 0)
    keep = rng.random(n) < np.where(weekday >= 5, 1.0, 0.85)
    day = np.where(keep, day, rng.integers(0, DAYS, n))
    hour_w = 0.6 + 0.4 * np.sin((np.arange(24) - 9) / 24 * 2 * np.pi) + 0.25 * (np.arange(24) >= 18)
    hour = rng.choice(24, n, p=hour_w / hour_w.sum())
    ms_in_hour = rng.integers(0, 3_600_000, n)
    ts_ms = START.astype(np.int64) + day * 86_400_000 + hour * 3_600_000 + ms_in_hour
    order = np.argsort(ts_ms, kind="stable")
    ts_ms, hour = ts_ms[order], hour[order]

    # Who sees the ad.
    country_idx = rng.choice(len(COUNTRIES), n, p=np.array([c[1] for c in COUNTRIES]) / sum(c[1] for c in COUNTRIES))
    is_ios = rng.random(n) < np.where(np.isin(country_idx, [0, 3, 5, 10, 11, 18]), 0.55, 0.25)
    campaign = rng.choice(n_campaigns, n, p=_zipf_weights(n_campaigns, 1.05))
    # a campaign shown on the wrong platform is re-drawn once (campaigns mostly target one platform)
    wrong = ((campaign_platform[campaign] == 0) & is_ios) | ((campaign_platform[campaign] == 1) & ~is_ios)
    campaign = np.where(wrong, rng.choice(n_campaigns, n, p=_zipf_weights(n_campaigns, 1.05)), campaign)
    game = rng.choice(n_games, n, p=_zipf_weights(n_games, 1.0))
    ios_v = rng.choice(len(IOS_VERSIONS), n, p=IOS_SHARES)
    android_v = rng.choice(len(ANDROID_VERSIONS), n, p=ANDROID_SHARES)
    ios_dev = rng.choice(len(ios_devices), n, p=ios_device_w)
    android_dev = rng.choice(len(android_devices), n, p=android_device_w)
    wifi = rng.random(n) < np.where(np.isin(country_idx, [1, 9, 15, 16, 28, 29]), 0.45, 0.68)

    # Per-user history: heavy-tailed counters, start >= view >= click, installs small.
    engaged = rng.beta(1.2, 6.0, n)
    start_count = np.floor(rng.pareto(1.1, n) * 8).astype(np.int64)
    new_user = start_count == 0
    view_count = rng.binomial(start_count, np.clip(0.3 + engaged, 0, 1))
    click_count = rng.binomial(view_count, np.clip(engaged * 0.4, 0, 1))
    install_count = rng.binomial(click_count, 0.08)
    start7 = rng.binomial(start_count, rng.beta(2, 5, n))
    start1 = rng.binomial(start7, rng.beta(1.5, 5, n))
    gap_days = rng.exponential(np.where(start7 > 0, 0.6, 12.0), n)
    last_start_ms = ts_ms - (gap_days * 86_400_000).astype(np.int64) - rng.integers(1, 60_000, n)

    # Latent install propensity (the story in models/README.md).
    home = (campaign_home[campaign] == country_idx[:, None]).any(axis=1)
    click_rate = np.where(view_count > 0, click_count / np.maximum(view_count, 1), 0.0)
    major_ios = np.array([int(v.split(".")[0]) for v in IOS_VERSIONS])[ios_v]
    major_android = np.array([int(v.split(".")[0]) for v in ANDROID_VERSIONS])[android_v]
    old_os = np.where(is_ios, major_ios < 13, major_android < 8)
    logit = (
        campaign_quality[campaign]
        + 0.9 * home
        + game_effect[game]
        + np.array([c[2] for c in COUNTRIES])[country_idx]
        + 0.35 * is_ios
        + 0.25 * wifi
        - 0.45 * old_os
        + 2.2 * np.sqrt(click_rate)
        + 0.45 * np.log1p(install_count)
        - 0.25 * np.log1p(np.where(new_user, 30.0, gap_days))
        + 0.15 * np.log1p(start1)
        - 0.5 * new_user
        + 0.2 * np.cos((hour - 21) / 24 * 2 * np.pi)
        + np.where(is_ios, device_effect_ios[ios_dev], device_effect_android[android_dev])
        + rng.normal(0.0, 0.5, n)  # what no feature explains
    )
    lo, hi = -15.0, 5.0  # intercept so that the mean probability is `install_rate`
    for _ in range(60):
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(logit + mid)))).mean() < install_rate:
            lo = mid
        else:
            hi = mid
    p_true = 1 / (1 + np.exp(-(logit + lo)))
    install = (rng.random(n) < p_true).astype(np.int8)

    df = pd.DataFrame({
        "id": _hex_ids(rng, n, 24),
        "timestamp": _iso(ts_ms),
        "campaignId": campaign_ids[campaign],
        "platform": np.where(is_ios, "ios", "android"),
        "softwareVersion": np.where(is_ios, np.array(IOS_VERSIONS)[ios_v], np.array(ANDROID_VERSIONS)[android_v]),
        "sourceGameId": game_ids[game],
        "country": np.array([c[0] for c in COUNTRIES])[country_idx],
        "startCount": start_count,
        "viewCount": view_count,
        "clickCount": click_count,
        "installCount": install_count,
        "lastStart": np.where(new_user, None, _iso(last_start_ms)),
        "startCount1d": start1,
        "startCount7d": start7,
        "connectionType": np.where(wifi, "wifi", "cellular"),
        "deviceType": np.where(is_ios, ios_devices[ios_dev], android_devices[android_dev]),
        "install": install,
    })
    df["p_true"] = p_true
    return df


if __name__ == "__main__":
    import time
    t = time.time()
    d = generate(200_000)
    print(d.head(3).T)
    print("rate", d.install.mean(), "secs", time.time() - t)
    from sklearn.metrics import roc_auc_score
    print("true AUC", roc_auc_score(d.install, d.p_true))
