# Terreau — commandes de base. Voir README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installe
ASSETS := carto/_vendor/.installe

.PHONY: demo test lab setup assets reference clean

setup: $(STAMP) $(ASSETS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# JavaScript/CSS (Leaflet…) épinglés dans assets/package-lock.json, copiés dans carto/_vendor
$(ASSETS): assets/package.json assets/package-lock.json $(STAMP)
	cd assets && npm ci --silent --no-audit --no-fund
	$(BIN)/python scripts/vendor_assets.py
	touch $(ASSETS)

assets: $(ASSETS)

demo: setup
	$(BIN)/carto demo --out out

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab notebooks/

reference: setup
	$(BIN)/python scripts/build_reference.py

clean:
	rm -rf $(VENV) carto/_vendor assets/node_modules out
