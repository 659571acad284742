# Sourced by the scripts: where builds go and which tools come first on PATH.
# The target directory lives outside the clone, one per clone path: CI's clone, always at the same
# path, reuses what its previous run compiled; it costs a new machine nothing but the cold build.
# One per path, not one for all: cargo copies final artifacts (the `palisade` binary, the wasm) to
# unhashed names, and a clone whose sources are older than another clone's build would keep that
# clone's copies (whose server-function URLs embed the other clone's path).
clone_key="$(basename "$PWD")-$(printf '%s' "$PWD" | sha256sum | cut -c1-8)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target/$clone_key}"
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
# Incremental compilation pays off in an edit loop, not in scripted builds, and its cache is large.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
