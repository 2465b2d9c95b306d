# Two commands for people: `make run` (digest of seeds/ into out/) and `make test`.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test parity bench clean train-parser parse-score parse-speed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The ranker's loops are compiled by numba on first use (10-30 s) and cached next to the code
# (digest/rank/__pycache__): compile them here, with the time shown, not in the middle of a command.
# The same step builds the dictionary's tables a new state folder would otherwise build (1.5-3 s).
$(BIN)/.compiled: $(BIN)/.installed $(wildcard digest/rank/*.py) digest/text.py \
		digest/themes/simjoin.py
	@echo "compiling the ranker's loops (numba; once after installing or changing them)..."
	@$(BIN)/python -c 'from digest.rank import compile_loops; \
		print(f"compiled in {compile_loops():.1f} s, cached in digest/rank/__pycache__")'
	@$(BIN)/python -c 'from digest.themes.simjoin import compile_loops; \
		print(f"same-story loops compiled in {compile_loops():.1f} s")'
	@$(BIN)/python -c 'from digest.rank import prebuild_tables; \
		print(f"dictionary tables built in {prebuild_tables():.1f} s, kept in digest/rank/__pycache__/tables")'
	@touch $@

# Byte-compile digest/ as pip does for an ordinary install (an editable one does not): with
# PYTHONDONTWRITEBYTECODE set, every command would otherwise compile its modules from source
# (0.05-0.1 s of each start). compileall writes the .pyc files even then.
$(BIN)/.bytecode: $(BIN)/.installed $(shell find digest -name '*.py')
	@$(BIN)/python -m compileall -q digest
	@touch $@

# Ingest seeds/ into .digest/digest.db (files already stored are skipped), then build every
# week's digest, index.html and feed.xml into out/. Safe to run again: it rebuilds.
run: $(BIN)/.compiled $(BIN)/.bytecode
	$(BIN)/digest ingest seeds/
	$(BIN)/digest build --all --out out

test: $(BIN)/.compiled $(BIN)/.bytecode
	@sh bench/install-chromium.sh
	$(BIN)/pytest -q

# textrank4zh 0.3, the reference for `make parity` and `make bench`, in a venv of its own: it
# needs networkx<3 (nx.from_numpy_matrix) and is no dependency of digest.
REF ?= .venv-ref
$(REF)/bin/.installed: bench/requirements-ref.txt
	$(PYTHON) -m venv $(REF)
	$(REF)/bin/pip install -q -r bench/requirements-ref.txt
	touch $@

parity: $(BIN)/.compiled $(REF)/bin/.installed
	$(BIN)/python bench/parity.py

# Ranking cold and warm against textrank4zh and the bare tagger, start-up, then ingest serial
# against parallel and the year benchmark, and the targets met or not: 7-20 minutes.
bench: $(BIN)/.compiled $(BIN)/.bytecode $(REF)/bin/.installed
	$(BIN)/python bench/bench.py

# The parser's line labeller, from the seeds gold and the dev papers in ../shared (never
# copied here): writes digest/data/parser.crfsuite. `parse-score` prints the scores per paper
# and layout and leave-one-paper-out; `parse-speed` the cost per MB at 1 and 20 MB.
SHARED ?= ../shared
train-parser: $(BIN)/.installed
	$(BIN)/python -m digest.parse.train --shared $(SHARED)

parse-score: $(BIN)/.installed
	$(BIN)/python bench/parse_score.py --shared $(SHARED)
	$(BIN)/python bench/parse_score.py --shared $(SHARED) --lopo

parse-speed: $(BIN)/.installed
	$(BIN)/python bench/parse_speed.py

clean:
	rm -rf $(VENV) .venv-ref out .digest
