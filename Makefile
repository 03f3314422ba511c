# Terreau — commandes de base. Voir README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installe
ASSETS := carto/_vendor/.installe
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: demo test lab setup assets reference demo-data bench clean

setup: $(STAMP) $(ASSETS) $(LAB_SETTINGS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	-$(BIN)/nbstripout --install 2>/dev/null
	touch $(STAMP)

# JupyterLab en français par défaut (paquet jupyterlab-language-pack-fr-FR de pyproject.toml)
$(LAB_SETTINGS): $(STAMP)
	mkdir -p $(dir $@)
	printf '%s\n' '{"@jupyterlab/translation-extension:plugin": {"locale": "fr_FR"}}' > $@

# JavaScript/CSS (Leaflet…) épinglés dans assets/package-lock.json, copiés dans carto/_vendor
$(ASSETS): assets/package.json assets/package-lock.json $(STAMP)
	cd assets && npm ci --silent --no-audit --no-fund
	$(BIN)/python scripts/vendor_assets.py
	touch $(ASSETS)

assets: $(ASSETS)

demo: setup
	$(BIN)/carto demo --out out

test: setup
	$(BIN)/ruff check carto tests benchmarks scripts
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

reference: setup
	$(BIN)/python scripts/build_reference.py

# Petites sources de démonstration versionnées (data/demo), pour les carnets
demo-data: setup
	rm -rf data/demo
	$(BIN)/python -c "import datetime; from carto import synth; print(synth.generate('data/demo', n_persons=1500, today=datetime.date(2026, 11, 29)))"

# Mesures de performance (chiffres imprimés, jamais d'assertion de durée dans les tests)
# (harmonise_scale à 1 000 000 de personnes dépasserait aujourd'hui la mémoire : lancez-le à part)
bench: setup
	$(BIN)/python benchmarks/geo_load.py
	$(BIN)/python benchmarks/synth_scale.py
	$(BIN)/python benchmarks/store_bulk.py
	$(BIN)/python benchmarks/normalize_rates.py
	$(BIN)/python benchmarks/ingest_rates.py
	$(BIN)/python benchmarks/linkage_quality.py
	$(BIN)/python benchmarks/harmonise_scale.py 10000 100000
	$(BIN)/python benchmarks/circles_scale.py 100000
	$(BIN)/python benchmarks/maps_scale.py 1000 10000
	$(BIN)/python benchmarks/network_scale.py 10000 100000
	$(BIN)/python benchmarks/weekly_import.py 10000 100000
	$(BIN)/python benchmarks/review_labels.py 10000

clean:
	rm -rf $(VENV) carto/_vendor assets/node_modules out
