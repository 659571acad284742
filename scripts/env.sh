# Sourced by the scripts: where builds go, which tools come first on PATH, how sqlx's query macros
# find their data.
# The target directory lives outside the clone and is shared by every clone: CI's fresh clone of
# main reuses what this machine compiled before (cargo's fingerprints keep that safe; server
# functions have fixed URLs, so nothing built depends on where the clone is).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/palisade-build}"
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
# Incremental compilation pays off in an edit loop, not in scripted builds, and its cache is large.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The console's queries are checked against console/.sqlx/ (scripts/sqlx-prepare writes it), never
# against a live database: a query changed without its data fails to compile.
export SQLX_OFFLINE="${SQLX_OFFLINE:-true}"
