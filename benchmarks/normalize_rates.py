"""Rates of carto.normalize on 1 M rows holding about 200 k distinct values.

Prints, for each normaliser, the wall time and the rate (rows per second).
Run: ``.venv/bin/python benchmarks/normalize_rates.py [ROWS] [DISTINCT]``.
The values are synthetic and dirty like the demo sources (case, spaces, phone
writings, CEDEX, 4-digit postcodes, invalid emails).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from carto import geo, normalize


def _values(n_rows: int, n_distinct: int, seed: int = 20190901) -> dict[str, pd.Series]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzéèç"))
    first = ["".join(rng.choice(letters, rng.integers(3, 9))) for _ in range(n_distinct // 20)]
    last = ["".join(rng.choice(letters, rng.integers(3, 11))) for _ in range(n_distinct // 4)]
    pick = rng.integers(0, n_distinct, n_rows)  # which distinct value each row holds
    f = np.array(first, dtype=object)[rng.integers(0, len(first), n_distinct)]
    l_ = np.array(last, dtype=object)[rng.integers(0, len(last), n_distinct)]
    names = pd.Series(f + "-" + l_, dtype=object)
    names[::3] = names[::3].str.upper()
    domains = np.array(["gmail.com", "orange.fr", "free.fr", "laposte.net", "Yahoo.FR"], dtype=object)
    emails = pd.Series(f + "." + l_ + np.char.mod("%d", rng.integers(0, 100, n_distinct)).astype(object)
                       + "@" + domains[rng.integers(0, 5, n_distinct)], dtype=object)
    emails[::300] = emails[::300].str.replace("@", "@@")
    digits = pd.Series(np.char.mod("%08d", rng.integers(0, 10**8, n_distinct)), dtype=object)
    prefix = pd.Series(rng.choice(["6", "6", "77", "56", "46"], n_distinct), dtype=object)
    mobile = ("0" + prefix + digits).str[:10]
    writing = rng.integers(0, 5, n_distinct)
    spaced = mobile.str.replace(r"(\d\d)(?=\d)", r"\1 ", regex=True)
    phones = mobile.where(writing != 0, spaced).where(writing != 1, "+33" + mobile.str[1:])
    phones = phones.where(writing != 2, spaced.str.replace(" ", "."))
    phones = phones.where(writing != 3, "+33 " + spaced.str[1:])
    ref = geo.postcodes()
    rows = ref.sample(n_distinct, replace=True, random_state=seed).reset_index(drop=True)
    cp = rows["code_postal"].astype(object).copy()
    cp[::7] = cp[::7] + " CEDEX " + (np.arange(len(cp[::7])) % 9 + 1).astype(str)
    cp[::333] = cp[::333].str[:4]
    commune = rows["nom"].str.upper().str.replace("SAINT-", "ST-").astype(object)
    take = lambda s: pd.Series(s.to_numpy()[pick], dtype=object)  # noqa: E731
    return {"emails": take(emails), "phones": take(phones), "postcodes": take(cp),
            "communes": take(commune), "name_keys": take(names)}


def _fr(number: float) -> str:
    return f"{number:,.0f}".replace(",", "\u202f")


def main(n_rows: int = 1_000_000, n_distinct: int = 200_000) -> None:
    data = _values(n_rows, n_distinct)
    print(f"normalize : {_fr(n_rows)} lignes, {_fr(n_distinct)} valeurs distinctes tirées")
    runs = {
        "emails": lambda: normalize.emails(data["emails"]),
        "phones": lambda: normalize.phones(data["phones"]),
        "postcodes": lambda: normalize.postcodes(data["postcodes"], data["communes"]),
        "name_keys": lambda: normalize.name_keys(data["name_keys"]),
        "person_names": lambda: normalize.person_names(data["name_keys"]),
        "organisation_keys": lambda: normalize.organisation_keys(data["name_keys"]),
        "is_hostile": lambda: normalize.is_hostile(data["name_keys"]),
        "text": lambda: normalize.text(data["name_keys"]),
    }
    for name, run in runs.items():
        start = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - start
        errors = int(out["error"].notna().sum()) if isinstance(out, pd.DataFrame) else 0
        distinct = data["communes" if name == "postcodes" else name if name in data else "name_keys"].nunique()
        print(f"{name:<17} {seconds:6.2f} s  {_fr(n_rows / seconds):>10} lignes/s  "
              f"({_fr(distinct)} distinctes, {_fr(errors)} erreurs)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
