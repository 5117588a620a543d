# Quick start:  make demo   (the round trip on the built-in tiny model)
#               make test   (pure, server and Blender tests on bpy 4.5 LTS and bpy 5.0)
# Each target builds what it needs from scratch: one venv per Blender version, each holding bpy
# (Blender as a Python module) and the server stack (torch CPU, diffusers). Blender itself never
# gets torch: inside Blender the add-on starts the server from its own environment.

PYTHON ?= python3
VENVS  ?= .venvs
BPY45  ?= 4.5.15
BPY50  ?= 5.0.1
PYTEST_ARGS ?=

PY45 = $(VENVS)/bl45/bin/python
PY50 = $(VENVS)/bl50/bin/python

.PHONY: demo test test45 test50 lint zip venvs clean

$(VENVS)/bl%/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENVS)/bl$*
	$(VENVS)/bl$*/bin/pip install -q --upgrade pip
	$(VENVS)/bl$*/bin/pip install -q "bpy==$(BPY$*)" "torch==2.13.0" "numpy<2" -e ".[server,dev]"
	touch $@

venvs: $(VENVS)/bl45/.installed $(VENVS)/bl50/.installed

demo: $(VENVS)/bl45/.installed
	$(PY45) -m blender_ltx demo --out out/demo

test45: $(VENVS)/bl45/.installed
	$(PY45) -m pytest -q $(PYTEST_ARGS)

test50: $(VENVS)/bl50/.installed
	$(PY50) -m pytest -q -m "blender or not server" $(PYTEST_ARGS)

test: test45 test50

lint: $(VENVS)/bl45/.installed
	$(VENVS)/bl45/bin/ruff check blender_ltx server tests bench

zip: $(VENVS)/bl45/.installed
	$(PY45) scripts/build_extension.py --out dist

clean:
	rm -rf $(VENVS) dist build out
