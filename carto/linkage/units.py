"""Reading the base: actors, ok source records (flat) and the units of linkage made of them."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from carto import store
from carto._errors import CartoError


#: Record part → actor columns fed by it, per kind.
_PART_FIELDS = {
    "personne": {
        "first_name": "first_name",
        "last_name": "last_name",
        "first_name_key": "first_name_key",
        "last_name_key": "last_name_key",
        "email": "email",
        "email_key": "email_key",
        "phone": "phone",
        "postcode": "postcode",
        "commune_code": "commune_code",
    },
    "organisation": {
        "name": "organisation_name",
        "name_key": "name_key",
        "acronym": "acronym",
        "siret": "siret",
        "siren": "siren",
        "rna": "rna",
        "org_type": "org_type",
        "address": "address",
        "postcode": "postcode",
        "commune_code": "commune_code",
        "url": "url",
        "email": "email",
        "email_key": "email_key",
        "phone": "phone",
        "themes": "themes",
    },
}


def _actor_frame(conn: Any, where: Any = None) -> pd.DataFrame:
    query = store.actors.select()
    if where is not None:
        query = query.where(where)
    return store.read_frame(conn, query.order_by(store.actors.c.id))


def _record_less(kind: str) -> Any:
    """Condition on ``actors``: active actors of ``kind`` that no ok source record names (made by hand)."""
    a, sr = store.actors, store.source_records
    named = [sa.select(column).where(sr.c.status == "ok", column.is_not(None))
             for column in (sr.c.actor_id, sr.c.organisation_actor_id)]
    return sa.and_(a.c.kind == kind, a.c.status == "active", *(a.c.id.not_in(q) for q in named))


def active_actors(actors: pd.DataFrame) -> pd.Series:
    """Active actor each actor id ends up in (following ``merged_into_id``).

    Parameters
    ----------
    actors : pandas.DataFrame
        Columns ``id`` and ``merged_into_id`` (NA for an active actor).

    Returns
    -------
    pandas.Series
        Indexed by actor id: the id of the active actor it was merged into
        (itself when active).

    Examples
    --------
    >>> actors = pd.DataFrame({"id": [1, 2, 3], "merged_into_id": pd.array([None, 1, 2], dtype="Int64")})
    >>> active_actors(actors).astype(int).tolist()
    [1, 1, 1]
    """
    target = actors.set_index("id")["merged_into_id"]
    root = pd.Series(actors["id"].to_numpy(), index=actors["id"].to_numpy())
    for _ in range(64):
        following = target.reindex(root.to_numpy())
        moved = following.notna().to_numpy()
        if not moved.any():
            return root.astype("int64")
        root = root.where(~moved, following.to_numpy())
    raise CartoError("Chaîne de fusions circulaire dans la table « actors » : la base est incohérente.")


def _links(conn: Any, actor_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """``id``, ``kind``, ``status`` and ``merged_into_id`` of every actor, or of ``actor_ids`` (where each ended up)."""
    a = store.actors
    statement = sa.select(a.c.id, a.c.kind, a.c.status, a.c.merged_into_id)
    if actor_ids is None:
        return store.read_frame(conn, statement)
    return store.select_in(conn, statement, a.c.id, actor_ids).astype({"id": "int64"})


#: Source records read at once by :func:`_records` (their JSON is parsed chunk by chunk).
_RECORD_CHUNK = 50_000


def _records(conn: Any, actor_ids: Sequence[int] | None = None, *, record_ids: Sequence[int] | None = None,
             since_batch: int | None = None) -> pd.DataFrame:
    """Ok source records — all of them, those of ``actor_ids``, those with ``record_ids``, or those of
    the import batches after ``since_batch`` — with the fields linkage reads, flat.

    Columns: ``id``, ``source``, ``actor_id``, ``organisation_actor_id``,
    ``date``, ``has_personne``, ``has_organisation`` and one column
    ``<part>.<field>`` per field of :data:`_PART_FIELDS`. The JSON of
    ``fields`` is read as text and parsed by chunks into columns: the
    records' dicts are never built.
    """
    sr = store.source_records
    names = ["id", "source", "actor_id", "organisation_actor_id", "actor_rule", "organisation_rule"]
    statement = sa.select(*(sr.c[n] for n in names), sa.cast(sr.c.fields, sa.Text).label("fields")).where(
        sr.c.status == "ok")
    if actor_ids is not None or record_ids is not None:
        columns = [sr.c.id] if record_ids is not None else [sr.c.actor_id, sr.c.organisation_actor_id]
        wanted = sorted({int(i) for i in (record_ids if record_ids is not None else actor_ids)})
        found = pd.concat([store.select_in(conn, statement, column, wanted) for column in columns],
                          ignore_index=True)
        found = found.drop_duplicates("id").sort_values("id", ignore_index=True)
        return _flat_records([found[c].tolist() for c in [*names, "fields"]], names)
    if since_batch is not None:
        statement = statement.where(sr.c.batch_id > since_batch)
    result = conn.execute(statement.order_by(sr.c.id), execution_options={"stream_results": True})
    chunks = [_flat_records(list(zip(*rows)), names) for rows in result.partitions(_RECORD_CHUNK)]
    return pd.concat(chunks, ignore_index=True) if chunks else _flat_records([[]] * (len(names) + 1), names)


@functools.cache
def _fields_schema() -> Any:
    """Arrow schema of what linkage reads of ``source_records.fields`` (other keys are ignored)."""
    import pyarrow as pa

    def part(names: Iterable[str]) -> Any:
        return pa.struct([(n, pa.list_(pa.string()) if n == "themes" else pa.string()) for n in names])

    return pa.schema([("date", pa.string()), *((name, part(fields)) for name, fields in _PART_FIELDS.items())])


def _flat_records(columns: list[Sequence[Any]], names: list[str]) -> pd.DataFrame:
    """Records from their ``names`` columns and ``fields`` JSON texts (the last column), flat.

    The texts are parsed together by Arrow's JSON reader — one document per
    line (JSON text from the base holds no raw line break) — straight into
    columns.
    """
    import io

    import pyarrow.json as pj

    *plain, texts = columns
    out = pd.DataFrame({name: pd.Series(values, dtype="int64" if name == "id" else object)
                        for name, values in zip(names, plain)})
    schema = _fields_schema()
    if len(texts):
        lines = "\n".join(t or "{}" for t in texts).encode("utf-8")
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        parsed = pj.read_json(io.BytesIO(lines), parse_options=options).flatten().to_pandas()
    else:
        parsed = schema.empty_table().flatten().to_pandas()
    out["date"] = parsed["date"].astype(object).where(parsed["date"].notna(), None).to_numpy()
    for part, fields in _PART_FIELDS.items():
        flat = parsed[[f"{part}.{name}" for name in fields]]
        out[f"has_{part}"] = flat.notna().any(axis=1).to_numpy()
        for column in flat.columns:
            values = flat[column]
            if column.endswith(".themes"):
                values = pd.Series([list(v) if v is not None else None for v in values], dtype=object)
            out[column] = values.to_numpy()
    return out


def _units(
    records: pd.DataFrame, actors: pd.DataFrame, *, kind: str, links: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Units of linkage of ``kind``: record parts, then the record-less active actors.

    Columns: ``unit`` (record id, or minus the actor id), ``actor`` (active
    actor), ``source``, ``date``, the compared columns and the part's fields
    (actor column names) for survivorship. ``records`` come from
    :func:`_records`; ``actors`` hold (at least) the active actors of
    ``kind`` that no record names, with their columns. ``links`` (``id`` and
    ``merged_into_id`` of every actor) tell where each actor ended up
    (default: ``actors``); the records' actor columns may predate merges.
    """
    links = actors if links is None else links
    roots = active_actors(links) if len(links) else pd.Series(dtype=int)
    mapping = _PART_FIELDS[kind]
    frames = []
    if len(records):
        if kind == "organisation":
            owner = records["organisation_actor_id"].where(
                records["organisation_actor_id"].notna(), records["actor_id"]
            )
        else:
            owner = records["actor_id"]
        has = records[f"has_{kind}"] & owner.notna()
        if has.any():
            chosen = records[has]
            if kind == "organisation":
                rule = chosen["organisation_rule"].where(chosen["organisation_actor_id"].notna(), chosen["actor_rule"])
            else:
                rule = chosen["actor_rule"]
            out = pd.DataFrame({
                "unit": chosen["id"].astype("int64"),
                "actor": roots.reindex(owner[has].astype("int64").to_numpy()).to_numpy(),
                "source": chosen["source"],
                "date": chosen["date"],
                "attached": rule.notna().to_numpy(),  # attached at import by a sure key (see _refresh)
            })
            for key, column in mapping.items():
                out[column] = chosen[f"{kind}.{key}"]
            if kind == "personne":
                out["organisation_key"] = chosen["organisation.name_key"]
                organisation = chosen["organisation_actor_id"]
                known = organisation.notna()
                out["organisation_id"] = None
                out.loc[known, "organisation_id"] = roots.reindex(
                    organisation[known].astype("int64").to_numpy()).to_numpy()
            else:  # the contact person named with the organisation, as it stands after person linkage
                contact = chosen["actor_id"].where(chosen["has_personne"] & chosen["organisation_actor_id"].notna())
                known = contact.notna()
                out["contact_key"] = None
                out.loc[known, "contact_key"] = roots.reindex(
                    contact[known].astype("int64").to_numpy()).astype(str).to_numpy()
            frames.append(out)
    linked = set(pd.concat(frames)["actor"].dropna().astype("int64")) if frames else set()
    own = actors[(actors["kind"] == kind) & (actors["status"] == "active") & ~actors["id"].isin(linked)]
    if len(own):
        out = pd.DataFrame(
            {"unit": -own["id"].astype("int64").to_numpy(), "actor": own["id"].to_numpy(), "source": None,
             "date": None, "attached": False}
        )
        for column in set(mapping.values()):
            out[column] = own[column].to_numpy()
        if kind == "personne":
            out["organisation_key"] = None
            out["organisation_id"] = own["organisation_id"].to_numpy()
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=["unit", "actor", "source", "date", "attached", *mapping.values()])
    units = pd.concat(frames, ignore_index=True)
    units["actor"] = units["actor"].astype("int64")
    return units.sort_values("unit", ignore_index=True)
