# Sourced by the scripts: where caches live and how cargo is called.
# Caches are outside the repository, so a fresh clone (CI) reuses them.
CAUSEWAY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CAUSEWAY_CACHE_DIR=${CAUSEWAY_CACHE_DIR:-$HOME/.cache/causeway}
# Compiled dependencies are shared between checkouts (workspace crates rebuild per path).
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CAUSEWAY_CACHE_DIR/target}
export PATH="$HOME/.cargo/bin:$PATH"
# The local stack's database password (scripts/stack creates the role with it); none is
# compiled into the binary.
export CAUSEWAY_DATABASE__PASSWORD=${CAUSEWAY_DATABASE__PASSWORD:-causeway}
# causeway's allocator (mimalloc) returns freed memory at once, as in the image (ADR 0021).
export MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-0}
export MIMALLOC_ARENA_EAGER_COMMIT=${MIMALLOC_ARENA_EAGER_COMMIT:-0}
# librdkafka's build and the Rust compiler share 2 cores; more jobs only add memory.
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

step() { printf '\n== %s ==\n' "$*"; }
