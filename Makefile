# Two commands for people: `make run` (digest of seeds/ into out/) and `make test`.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test parity bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/digest parse seeds/*.txt

test: $(BIN)/.installed
	@command -v chromium >/dev/null 2>&1 || sh bench/install-chromium.sh
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .venv-ref out .digest
