#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), from the seed corpus in fuzz/corpus/.
# Exits non-zero on the first target that crashes, leaks memory past the limits, or hangs; the
# input that did it is in fuzz/artifacts/<target>/ and `cargo fuzz run <target> <file>`
# replays it. New inputs the fuzzer finds go to a scratch directory, so the committed corpus
# stays small; pass MCP_TASKS_FUZZ_KEEP=1 to add them to fuzz/corpus/ instead.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# The machine's toolchain is stable; cargo-fuzz needs nightly flags, which RUSTC_BOOTSTRAP=1
# allows on it. MCP_TASKS_FUZZ_SANITIZER picks the sanitizer (default: none, as the project
# has no unsafe code; `address` would watch the dependencies' too).
# MCP_TASKS_FUZZ_LOCKED=1 (CI) refuses a fuzz/Cargo.lock that does not match the manifests;
# MCP_TASKS_FUZZ_QUICK_BUILD=1 (CI) builds faster, for short runs.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-60}
shift || true
case $seconds in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "error: cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
  exit 1
fi
export RUSTC_BOOTSTRAP=1
sanitizer=${MCP_TASKS_FUZZ_SANITIZER:-none}
build=(--sanitizer "$sanitizer" --release --debug-assertions)
if [ "${MCP_TASKS_FUZZ_QUICK_BUILD:-}" = 1 ]; then
  # CI: a clean build at opt-level 3 in one codegen unit takes longer than the fuzzing
  # itself; opt-level 1 in 16 units builds with less work and still runs fast enough.
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=1
  build+=(--codegen-units 16)
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

if [ "${MCP_TASKS_FUZZ_LOCKED:-}" = 1 ]; then
  # CI fuzzes what fuzz/Cargo.lock pins (cargo-fuzz has no --locked of its own).
  cargo metadata --locked --format-version 1 >/dev/null || {
    echo "error: fuzz/Cargo.lock is out of date (a crate's dependencies changed); refresh it" >&2
    echo "       with: (cd fuzz && cargo metadata --format-version 1 >/dev/null), and commit it" >&2
    exit 1
  }
fi
cargo fuzz build "${build[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  seeds=corpus/$target
  [ -d "$seeds" ] || { echo "error: no seed corpus $seeds" >&2; exit 1; }
  if [ "${MCP_TASKS_FUZZ_KEEP:-}" = 1 ]; then
    dirs=("$seeds")
  else
    mkdir -p "$scratch/$target"
    dirs=("$scratch/$target" "$seeds")
  fi
  echo "== fuzz $target for ${seconds}s =="
  # -rss_limit_mb: the process stays under 2 GiB; -malloc_limit_mb: no single allocation
  # over 256 MiB (inputs are at most -max_len bytes, so that is amplification, not input);
  # -timeout: one input in under 10 s.
  cargo fuzz run "${build[@]}" "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -timeout=10 -print_final_stats=1 2>&1 | grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)|NEW_FUNC' \
    || { echo "error: fuzz target $target failed; see fuzz/artifacts/$target/" >&2; exit 1; }
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
