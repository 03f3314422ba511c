"""Benchmark of the reference geography: load times and bulk commune lookup rate.

Usage::

    python benchmarks/geo_load.py [--rows 100000]

Prints (in French) the cold and warm load time of ``communes()``, ``epci()``,
``departements()``, the time to build the lookup index, and the rate of
``find_communes`` on synthetic (postcode, name) rows written the way people
type them (upper case, "ST", CEDEX, missing leading zero, typos).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carto import _fr, geo  # noqa: E402


def _timed(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def sample_rows(n: int, seed: int = 20190901) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``n`` (postcode, name) rows drawn by population, with realistic variations."""
    rng = np.random.default_rng(seed)
    com = geo.communes()
    pick = com.iloc[rng.choice(len(com), size=n, p=com["population"] / com["population"].sum())]
    postcodes = pick["codes_postaux"].map(lambda t: t[0]).reset_index(drop=True)
    names = pick["nom"].reset_index(drop=True)
    truth = pick["code"].reset_index(drop=True)
    u = rng.random(n)
    names = names.where(u > 0.3, names.str.upper().str.replace("SAINT-", "ST ", regex=False))
    names = names.where((u < 0.3) | (u > 0.4), names.str.replace("-", " ", regex=False))
    cedex = (u > 0.4) & (u < 0.45)
    postcodes = postcodes.where(~cedex, postcodes.str[:2] + "9" + postcodes.str[3:] + " CEDEX")
    names = names.where(~cedex, names + " CEDEX")
    postcodes = postcodes.where((u < 0.45) | (u > 0.5), postcodes.str.lstrip("0"))
    names = names.where((u < 0.5) | (u > 0.52), "Lieu-dit " + names)
    postcodes = postcodes.where((u < 0.52) | (u > 0.55), None)
    return postcodes, names, truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mesure le chargement de la géographie de référence.")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)

    print("Chargement de la géographie de référence (data/ref) :")
    for name in ("communes", "epci", "departements"):
        func = getattr(geo, name)
        gdf, cold = _timed(func)
        _, warm = _timed(func)
        print(f"  {name:<13} {len(gdf):>5} lignes   à froid {cold * 1000:7.1f} ms   "
              f"à chaud (copie) {warm * 1000:6.1f} ms")
    _, index_time = _timed(lambda: geo.find_commune(postcode="31000", name="Toulouse"))
    print(f"  index de recherche (premier find_commune) {index_time * 1000:.1f} ms")

    postcodes, names, truth = sample_rows(args.rows)
    found, seconds = _timed(lambda: geo.find_communes(postcodes, names))
    ok = (found == truth).sum()
    print(f"find_communes sur {_fr.integer(round(args.rows))} lignes : {seconds:.2f} s "
          f"({_fr.integer(round(args.rows / seconds))} lignes/s) ; {found.notna().mean():.1%} rattachées, "
          f"{ok / args.rows:.1%} justes")
    few = min(2_000, args.rows)
    start = time.perf_counter()
    for postcode, name in zip(postcodes[:few], names[:few]):
        try:
            geo.find_commune(postcode=postcode, name=name)
        except LookupError:
            pass
    scalar = time.perf_counter() - start
    print(f"find_commune (une par une) : {_fr.integer(round(few / scalar))} lignes/s")


if __name__ == "__main__":
    main()
