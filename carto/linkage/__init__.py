"""Linkage: find the records that describe the same person or organisation, merge them reversibly.

Two layers:

- a **pure core** on DataFrames, usable on any table of records (the FEBRL
  benchmarks use it): :func:`exact_pairs` (deterministic rules: same SIRET,
  SIREN or RNA, same contact person under the same name or alias, same full
  name where nothing disagrees for organisations; same e-mail key for
  persons), :func:`homonyms` (organisations of one name that cannot be one),
  :func:`predict` (exact rules, then probabilistic linkage with Splink 5 on
  DuckDB: blocking rules, *u* by random sampling with a fixed seed, *m* by EM
  on blocking rules from starting values — deterministic) and
  :func:`clusters` (connected components above a threshold);
- **the base**: :func:`link` links the imported source records, merges the
  actors of the pairs above ``auto_threshold`` into golden records
  (survivorship: source priority, then most recent ``fields.date``, then most
  complete record; the source of each field kept in ``provenance``), re-points
  what hangs on the absorbed actors and queues the uncertain pairs for review
  (:func:`review_queue`, :func:`decide`); the answers correct the model when
  it is retrained (:mod:`carto.linkage.labels`). Every merge keeps in
  ``merges.snapshot`` the rows it changed, so :func:`undo_merge` restores them
  exactly.

What is linked
--------------
The units of linkage are the *parts* of the ok source records (the
``personne`` part and the ``organisation`` part of each row), plus the active
actors that no source record names (created by hand). Source records never
change when actors merge, so re-running :func:`link` on the same records gives
the same pairs and the same clusters: a second run merges nothing. Pairs of
units are lifted to pairs of their current actors (best score kept); actors are
grouped greedily, most specific evidence first, never putting in one group two
actors declared distinct (``not_duplicates``) nor two homonymous
organisations; a bare mention of a name that homonyms share (a sign-in sheet
giving only « Collectif citoyen de Nîmes ») is left apart unless its contact
person tells which organisation it is.

At scale: records equal on every compared column are scored once (one Splink
profile; the model is still trained on every record, so scores do not
change), and a run's merges are applied in batches of whole groups with
set-based statements; each merge's snapshot keeps only what it changed
(re-pointed rows by id), which keeps :func:`undo_merge` exact.

Splink 5 pitfalls met here: its EM fails (``m_probability value 0.0``) when a
comparison level is only seen among non-matches of a small training set, and
may leave the model half-updated — so each comparison carries starting *m*
probabilities and a failed EM restarts from them; and random-sampling *u*
assumes random pairs are non-matches, which heavy repetition (the same person
on many sign-in sheets) breaks — so *u* is estimated on the records left once
obvious repeats are set aside.

Columns of the pure core
------------------------
Persons: ``first_name_key``, ``last_name_key``, ``email_key``, ``phone``,
``postcode``, ``commune_code``, ``organisation_key`` and, when present,
``birth_date``, ``identifier``, ``address``, ``locality`` (free text, used by
the FEBRL benchmarks). Organisations: ``organisation_name`` (display name:
gives the full-name key and the initials), ``name_key``, ``acronym``,
``siren``, ``siret``, ``rna``, ``email_key``, ``phone``, ``postcode``,
``commune_code`` and ``contact_key`` (who named the organisation: two mentions
by the same contact under the same name or alias are the same organisation).
Missing columns are simply not compared; every value must already be
normalised (:mod:`carto.normalize`).
"""

import logging

from carto.linkage.rules import (EXACT_RULES as EXACT_RULES, ORGANISATION_COLUMNS, PERSON_COLUMNS, Kind as Kind,
                                 exact_pairs, homonyms)
from carto.linkage.model import (MIN_TRAINING_PAIRS as MIN_TRAINING_PAIRS, SEED as SEED, U_MAX_PAIRS as U_MAX_PAIRS,
                                 clusters, predict)
from carto.linkage.units import active_actors
from carto.linkage.repoint import _DEPENDENTS as _DEPENDENTS, _LINKAGE_COLUMNS as _LINKAGE_COLUMNS
from carto.linkage.merging import (SOURCE_PRIORITY, _shown_time as _shown_time, attachments, detach, merge, merges,
                                   undo_merge)
from carto.linkage.review import decide, review_queue
from carto.linkage.base import AUTO_THRESHOLD, REVIEW_BAND, LinkReport, review_time
from carto.linkage.model import train
from carto.linkage.incremental import model_drift
from carto.linkage.labels import apply_labels, decided_labels
from carto.linkage.run import link

#: The logger every sub-module writes to.
log = logging.getLogger(__name__)

__all__ = [
    "active_actors",
    "PERSON_COLUMNS",
    "ORGANISATION_COLUMNS",
    "AUTO_THRESHOLD",
    "REVIEW_BAND",
    "SOURCE_PRIORITY",
    "LinkReport",
    "exact_pairs",
    "homonyms",
    "predict",
    "train",
    "clusters",
    "link",
    "model_drift",
    "decided_labels",
    "apply_labels",
    "review_time",
    "merge",
    "undo_merge",
    "detach",
    "attachments",
    "merges",
    "review_queue",
    "decide",
]
