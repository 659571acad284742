# Sourced by the scripts: where builds go and which tools come first on PATH.
# A shared target directory outside the clone lets CI's fresh clone reuse what was compiled before
# (cargo's fingerprints keep it correct); it costs a new machine nothing but the cold build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}"
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
# Incremental compilation pays off in an edit loop, not in scripted builds, and its cache is large.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
