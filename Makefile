# Quick start:  make demo   (the round trip on the built-in tiny model)
#               make test   (pure, server and Blender tests on bpy 4.5 LTS, 5.0, 5.3 and 4.2 LTS)
# Each target builds what it needs from scratch: one venv per Blender version, each holding bpy
# (Blender as a Python module) and the server stack (torch CPU, diffusers). Blender itself never
# gets torch: inside Blender the add-on starts the server from its own environment.
# bpy 5.1+ needs Python 3.13, for which there is no local torch CPU wheel (a bare torch would pull a
# multi-GB CUDA build), so the bl53 venv is what a Blender install looks like: bpy + numpy, no server
# stack; its tests start the server with the bl45 venv's Python (LTX_SERVER_PYTHON). bl42 (4.2 LTS, the
# manifest's blender_version_min) is built the same way, to keep the oldest supported Blender honest.

PYTHON ?= python3
VENVS  ?= .venvs
BPY45  ?= 4.5.15
BPY50  ?= 5.0.1
BPY53  ?= 5.3.0
BPY42  ?= 4.2.23
PYTHON313 ?= env PYENV_VERSION=3.13.0 python3.13
PYTEST_ARGS ?=
# bl45 also runs the Ray tests (issue: generation over a Ray cluster); bl50 does not need Ray.
EXTRAS45 = server,dev,ray
EXTRAS50 = server,dev

PY45 = $(VENVS)/bl45/bin/python
PY50 = $(VENVS)/bl50/bin/python
PY53 = $(VENVS)/bl53/bin/python
PY42 = $(VENVS)/bl42/bin/python

.PHONY: demo test test45 test50 test53 test42 lint zip venvs clean

$(VENVS)/bl%/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENVS)/bl$*
	$(VENVS)/bl$*/bin/pip install -q --upgrade pip
	$(VENVS)/bl$*/bin/pip install -q "bpy==$(BPY$*)" "torch==2.13.0" "numpy<2" -e ".[$(EXTRAS$*)]"
	touch $@

# No extras: av only to write the test clips the VSE tests import (it has Python 3.13 wheels).
$(VENVS)/bl53/.installed: pyproject.toml
	$(PYTHON313) -m venv $(VENVS)/bl53
	$(VENVS)/bl53/bin/pip install -q --upgrade pip
	$(VENVS)/bl53/bin/pip install -q "bpy==$(BPY53)" pytest requests av -e .
	touch $@

$(VENVS)/bl42/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENVS)/bl42
	$(VENVS)/bl42/bin/pip install -q --upgrade pip
	$(VENVS)/bl42/bin/pip install -q "bpy==$(BPY42)" "numpy<2" pytest requests av -e .
	touch $@

venvs: $(VENVS)/bl45/.installed $(VENVS)/bl50/.installed $(VENVS)/bl53/.installed $(VENVS)/bl42/.installed

demo: $(VENVS)/bl45/.installed
	$(PY45) -m blender_ltx demo --out out/demo

# LTX_REQUIRE: a module a venv must hold, or the run fails at once (no folder or module skipped unseen).
test45: $(VENVS)/bl45/.installed
	LTX_REQUIRE=bpy,torch,PIL,av,cv2,ray,schemathesis $(PY45) -m pytest -q $(PYTEST_ARGS)

test50: $(VENVS)/bl50/.installed
	LTX_REQUIRE=bpy,torch,PIL,av,cv2,schemathesis $(PY50) -m pytest -q -m "blender or not server" $(PYTEST_ARGS)

# Server-side tests import torch, which bl53 lacks: the Blender tests there talk to a server run by bl45.
test53: $(VENVS)/bl53/.installed $(VENVS)/bl45/.installed
	LTX_REQUIRE=bpy,av LTX_SERVER_PYTHON=$(abspath $(PY45)) $(PY53) -m pytest -q -m "blender or not server" $(PYTEST_ARGS)

test42: $(VENVS)/bl42/.installed $(VENVS)/bl45/.installed
	LTX_REQUIRE=bpy,av LTX_SERVER_PYTHON=$(abspath $(PY45)) $(PY42) -m pytest -q -m "blender or not server" $(PYTEST_ARGS)

test: test45 test50 test53 test42

lint: $(VENVS)/bl45/.installed
	$(VENVS)/bl45/bin/ruff check blender_ltx server tests bench scripts

zip: $(VENVS)/bl45/.installed
	$(PY45) scripts/build_extension.py --out dist

clean:
	rm -rf $(VENVS) dist build out
