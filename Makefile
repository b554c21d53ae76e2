# Two commands: `make run` (install + serve the embedded default) and `make test` (install + run every test).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
MOCK_PORT ?= 9100
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint bench-catalog clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when a requirements file changed.
$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

# The demo's providers answer from the mock provider on MOCK_PORT, so everything works offline; the usage ingester
# moves the gateway's usage records into the database.
run: $(VENV)/.base-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py sync_catalog --if-empty
	$(BIN)/python manage.py bootstrap_demo --mock-url http://127.0.0.1:$(MOCK_PORT)
	$(BIN)/python manage.py mock_provider --port $(MOCK_PORT) & mock=$$!; \
	$(BIN)/python manage.py usage_ingester & ingester=$$!; \
	trap 'kill $$mock $$ingester' EXIT INT TERM; \
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --workers $(WORKERS) --loop uvloop --http httptools

test: $(VENV)/.dev-installed $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium (Playwright never downloads a browser of its own). Installed once, quietly,
# as root or with sudo; where that fails the browser tests are skipped and say why, except on CI, which stops here.
$(CHROMIUM):
	@sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); log=$$(mktemp); \
	apt="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get"; \
	if ! { $$apt install -y -q --no-install-recommends chromium \
		|| { $$apt update -q && $$apt install -y -q --no-install-recommends chromium; }; } >$$log 2>&1; then \
		tail -n 5 $$log >&2; rm -f $$log; \
		if [ "$${CI:-}" = true ]; then echo "Chromium could not be installed; CI runs the browser tests." >&2; exit 1; fi; \
		echo "Chromium could not be installed: the browser tests will be skipped." >&2; \
	else rm -f $$log; fi

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-catalog: $(VENV)/.dev-installed
	$(BIN)/python benchmarks/catalog_sync.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
