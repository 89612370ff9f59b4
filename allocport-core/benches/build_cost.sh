#!/usr/bin/env bash
# What adding allocport-core costs a test suite's cold debug build: a small project that uses
# rstest and tokio in its tests, built from nothing without allocport and, beside it, the same
# project with allocport-core (default features, so with its macro) and a test using
# #[with_ports], once per SOURCE. Prints every build's wall and CPU time, and per SOURCE the
# median over the rounds of what it added to that round's build without allocport.
#
#   allocport-core/benches/build_cost.sh [ROUNDS] [SOURCE...]   # default: 5 rounds of HEAD
#
# A SOURCE is a commit of this repository (commit first), taken as a git dependency, which
# cargo builds as it builds one from crates.io; or `path`, the working tree as a path
# dependency, which cargo builds incrementally: that costs allocport-core's cold build about a
# third more, and is not what users of the published crate get. Several SOURCEs compare
# commits side by side: `build_cost.sh 9 HEAD~3 HEAD`.
#
# Each round builds every project once, in an order that turns from round to round. The
# machine's pace drifts between rounds by more than the cost measured (here up to a tenth of a
# build), less within one, so each figure is the difference within a round, then the median.
# Needs the crates.io registry (or a cargo home that has rstest, tokio and their dependencies).
set -euo pipefail
rounds=${1:-5}
sources=("${@:2}")
((${#sources[@]})) || sources=(HEAD)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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

holds_test='
#[allocport_core::with_ports(1)]
#[test]
fn holds(port: u16) {
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}'

names=(without)
labels=()
project without "" ""
for i in "${!sources[@]}"; do
    if [[ ${sources[$i]} == path ]]; then
        line="{ path = \"$repo/allocport-core\" }"
        labels+=("the working tree (path dependency)")
    else
        rev=$(git -C "$repo" rev-parse "${sources[$i]}")
        line="{ git = \"file://$repo\", rev = \"$rev\" }"
        labels+=("${rev:0:12} (git dependency)")
    fi
    project "with$i" "allocport-core = $line" "$holds_test"
    names+=("with$i")
    echo "with$i: allocport at ${labels[$i]}"
done

# Fetch once, outside the timings.
for p in "${names[@]}"; do (cd "$work/$p" && cargo fetch --quiet); done

build() { # name -> "wall cpu" in seconds
    local dir=$work/$1 out
    rm -rf "$work/target"
    out=$( { cd "$dir" && CARGO_TARGET_DIR=$work/target /usr/bin/env time -f '%e %U %S' \
        cargo test --no-run --offline --quiet 2>&1 >/dev/null; } 2>&1 | tail -1)
    awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' <<<"$out"
}

declare -A wall cpu
n=${#names[@]}
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < n; k++)); do
        p=${names[$(((r + k) % n))]}
        read -r "wall[$p,$r]" "cpu[$p,$r]" < <(build "$p")
        echo "round $((r + 1)) $p: wall ${wall[$p,$r]} s, cpu ${cpu[$p,$r]} s"
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
added() { # name, array name -> the rounds' differences to the build without allocport
    local -n of=$2
    for ((r = 0; r < rounds; r++)); do
        awk "BEGIN { printf \"%.2f\n\", ${of[$1,$r]} - ${of[without,$r]} }"
    done
}
without_walls=()
for ((r = 0; r < rounds; r++)); do without_walls+=("${wall[without,$r]}"); done
echo "without allocport: median wall $(median "${without_walls[@]}") s"
for i in "${!sources[@]}"; do
    mapfile -t dw < <(added "with$i" wall)
    mapfile -t dc < <(added "with$i" cpu)
    sorted=$(printf '%s\n' "${dw[@]}" | sort -g | tr '\n' ' ')
    echo "with allocport at ${labels[$i]}: median added wall $(printf %+.2f "$(median "${dw[@]}")") s" \
        "(rounds: ${sorted% }), median added cpu $(printf %+.2f "$(median "${dc[@]}")") s"
done
