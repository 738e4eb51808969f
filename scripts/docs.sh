#!/usr/bin/env bash
# The documentation site (mkdocs.yml, docs/): install the `docs` extra into .venv if it is missing, then
#   bash scripts/docs.sh                 build it with `mkdocs build --strict` into build/site (SITE_DIR=... elsewhere)
#   bash scripts/docs.sh serve [ADDR]    serve it with live reload on ADDR (default 127.0.0.1:8000)
# The build fails on any warning: a broken link, anchor or snippet, a module the API reference cannot load.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  bash scripts/setup.sh ".[docs]"
elif ! .venv/bin/python -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null; then
  .venv/bin/pip install -q -e ".[docs]"
fi
export NO_MKDOCS_2_WARNING=1        # Material's notice about MkDocs 2, printed on every build
case "${1:-build}" in
  build) .venv/bin/python -m mkdocs build --strict -d "${SITE_DIR:-build/site}"
         echo "site: ${SITE_DIR:-build/site}/index.html" ;;
  serve) .venv/bin/python -m mkdocs serve --strict -a "${2:-127.0.0.1:8000}" ;;
  *) echo "usage: bash scripts/docs.sh [build | serve [ADDR]]" >&2; exit 2 ;;
esac
