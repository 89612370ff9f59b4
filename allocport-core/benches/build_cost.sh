#!/usr/bin/env bash
# What adding allocport-core costs a test suite's cold debug build: two small projects that
# use rstest and tokio in their tests, one of them with allocport-core (default features, so
# with its macro) and a test using #[with_ports], built from nothing in turn, ROUNDS times
# each, alternating which goes first. Prints every build's wall and CPU time and the medians.
#
#   allocport-core/benches/build_cost.sh [ROUNDS] [REV|path]   # default 5 rounds of HEAD
#
# allocport comes from this repository's git history at REV (a commit, so commit first), as a
# git dependency, which cargo builds as it does one from crates.io. With `path` it is a path
# dependency on the working tree instead, which cargo builds incrementally: that costs a cold
# build about a third more for allocport-core and is not what users of the published crate get.
# Needs the crates.io registry (or a cargo home that has rstest, tokio and their dependencies).
set -euo pipefail
rounds=${1:-5}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ ${2:-} == path ]]; then
    source_line="{ path = \"$repo/allocport-core\" }"
    echo "allocport from the working tree at $repo (a path dependency)"
else
    rev=$(git -C "$repo" rev-parse "${2:-HEAD}")
    source_line="{ git = \"file://$repo\", rev = \"$rev\" }"
    echo "allocport at $rev (a git dependency)"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

project() { # name, extra dependency line, extra test
    local dir=$work/$1
    mkdir -p "$dir/src" "$dir/tests"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "$1"
version = "0.1.0"
edition = "2021"

[dev-dependencies]
rstest = "0.29"
tokio = { version = "1", features = ["macros", "net", "rt", "time"] }
$2
EOF
    echo 'pub fn add(a: u16, b: u16) -> u16 { a + b }' >"$dir/src/lib.rs"
    cat >"$dir/tests/it.rs" <<EOF
use rstest::rstest;

#[rstest]
#[case(1, 2)]
fn adds(#[case] a: u16, #[case] b: u16) {
    assert_eq!($1::add(a, b), a + b);
}

#[tokio::test]
async fn binds() {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
}
$3
EOF
    (cd "$dir" && cargo generate-lockfile --quiet)
}

project without "" ""
project with "allocport-core = $source_line" '
#[allocport_core::with_ports(1)]
#[test]
fn holds(port: u16) {
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}'

# Fetch once, outside the timings.
for p in without with; do (cd "$work/$p" && cargo fetch --quiet); done

build() { # name -> "wall cpu" in seconds
    local dir=$work/$1 out
    rm -rf "$work/target"
    out=$( { cd "$dir" && CARGO_TARGET_DIR=$work/target /usr/bin/env time -f '%e %U %S' \
        cargo test --no-run --offline --quiet 2>&1 >/dev/null; } 2>&1 | tail -1)
    awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' <<<"$out"
}

declare -a with_wall without_wall with_cpu without_cpu
for ((i = 0; i < rounds; i++)); do
    if ((i % 2)); then order=(with without); else order=(without with); fi
    for p in "${order[@]}"; do
        read -r wall cpu < <(build "$p")
        echo "round $((i + 1)) $p: wall ${wall} s, cpu ${cpu} s"
        eval "${p}_wall+=($wall); ${p}_cpu+=($cpu)"
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mw=$(median "${with_wall[@]}"); mo=$(median "${without_wall[@]}")
cw=$(median "${with_cpu[@]}"); co=$(median "${without_cpu[@]}")
echo "median wall: without ${mo} s, with ${mw} s: +$(awk "BEGIN { printf \"%.2f\", $mw - $mo }") s"
echo "median cpu:  without ${co} s, with ${cw} s: +$(awk "BEGIN { printf \"%.2f\", $cw - $co }") s"
