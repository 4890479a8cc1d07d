#!/usr/bin/env bash
# Makes the release builds of osprey: one executable that needs nothing of .NET on the machine that runs it.
#
#   scripts/publish.sh                       # the shipped build for this machine: Native AOT, linux-x64
#   scripts/publish.sh linux-arm64           # the same for a Raspberry Pi (64-bit Raspberry Pi OS), cross-compiled
#   scripts/publish.sh linux-x64 single-file # another kind (see below)
#   scripts/publish.sh --cached linux-arm64  # reuse a build made from the same sources, else make it
#
# Kinds:
#   aot              the shipped build: Native AOT, one native executable (the default)
#   single-file      the JIT build: trimmed, self-contained, one file (the .NET runtime inside)
#   single-file-r2r  the same, its code precompiled (ReadyToRun) to start faster
#   framework        framework-dependent: osprey.dll and its libraries, run by an installed .NET 10 runtime
#
# Output: artifacts/release/RID/osprey for the shipped build, artifacts/release/RID-KIND/ for the others (the
# framework kind is a folder: run its osprey, or dotnet osprey.dll). Installs the Debian packages a build needs
# (a C toolchain for Native AOT; clang, the arm64 binutils and arm64 libc for the arm64 cross-compile) when missing.
# Prints the executable's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
source scripts/ensure-packages.sh

cached=false
if [[ "${1:-}" == --cached ]]; then
  cached=true
  shift
fi
rid=${1:-linux-x64}
kind=${2:-aot}
case $rid in
  linux-x64 | linux-arm64) ;;
  *) echo "publish.sh: unknown runtime '$rid' (linux-x64 or linux-arm64)" >&2; exit 2 ;;
esac
case $kind in
  aot) out=artifacts/release/$rid; props=(-p:PublishAot=true) ;;
  single-file) out=artifacts/release/$rid-$kind; props=(-p:PublishAot=false) ;;
  single-file-r2r) out=artifacts/release/$rid-$kind; props=(-p:PublishAot=false -p:PublishReadyToRun=true) ;;
  framework) out=artifacts/release/$rid-$kind; props=(-p:PublishAot=false --self-contained false -p:PublishTrimmed=false -p:PublishSingleFile=false) ;;
  *) echo "publish.sh: unknown kind '$kind' (aot, single-file, single-file-r2r, framework)" >&2; exit 2 ;;
esac

# What the build is made from: every source file of the two shipped projects (tracked or new, not ignored), the
# shared build settings, this script and the SDK. The same stamp means the same executable (the build is
# deterministic), so --cached can reuse it.
stamp() {
  {
    dotnet --version
    echo "$rid $kind"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -co --exclude-standard -- src Directory.Build.props Directory.Packages.props docs/osprey.schema.json scripts/publish.sh
    else
      find src -type f -not -path '*/bin/*' -not -path '*/obj/*'
      echo Directory.Build.props Directory.Packages.props docs/osprey.schema.json scripts/publish.sh | tr ' ' '\n'
    fi | LC_ALL=C sort | while read -r f; do if [[ -f $f ]]; then sha256sum "$f"; fi; done
  } | sha256sum | cut -d' ' -f1
}

mkdir -p artifacts/release
# One publish of a build at a time (tests may ask for it in parallel); different builds have their own bin and obj.
exec 9>"artifacts/release/.lock-$rid-$kind"
flock 9

want=$(stamp)
if $cached && [[ -f $out/.stamp && "$(cat "$out/.stamp")" == "$want" && -x $out/osprey ]]; then
  echo "publish.sh: $out is up to date (stamp $want)" >&2
  echo "$repo/$out/osprey"
  exit 0
fi

if [[ $kind == aot ]]; then
  if [[ $rid == linux-arm64 && $(dpkg --print-architecture) != arm64 ]]; then
    # Cross-compiling: clang drives the link for aarch64 (the SDK passes --target), the arm64 binutils link, and
    # Debian's arm64 libc and libgcc (multiarch) are what the executable links against.
    ensure_architecture arm64
    ensure_packages clang binutils-aarch64-linux-gnu libc6-dev:arm64 libgcc-12-dev:arm64
  else
    # The native link: clang when present (the SDK's first choice), else gcc.
    command -v clang >/dev/null || ensure_packages gcc
  fi
fi

rm -rf "$out"
mkdir -p "$out"
echo "publish.sh: building $kind for $rid into $out" >&2
# Its own bin/obj (--artifacts-path), so that a publish never rewrites the solution's build output that the tests run;
# the jsmpeg download is shared with the normal build (Vendor.targets).
dotnet publish src/Osprey.Server -c Release -r "$rid" "${props[@]}" -o "$out" \
  --artifacts-path "artifacts/publish-work/$rid-$kind" -p:VendorCacheDir="$repo/src/Osprey.Server/obj/vendor/" \
  -warnaserror -nologo -clp:NoSummary >&2
rm -f "$out/osprey.staticwebassets.endpoints.json" "$out/web.config"
echo "$want" >"$out/.stamp"
echo "$repo/$out/osprey"
