#!/usr/bin/env bash
# Build, push and deploy greyfaas on OpenFaaS Pro (Standard/Enterprise) with its autoscaler.
#
#   k8s/faas-up-pro.sh [-f stack.yml] [--filter GLOB] [--dry-run] [faas-cli up args...]
#
# stack.yml keeps com.openfaas.scale.type/target/target-proportion as *annotations*,
# because OpenFaaS CE rejects those keys as labels at deploy time. The Pro autoscaler reads
# them as *labels*, so this runs, once per function,
#
#   faas-cli up -f stack.yml --filter <fn> --label com.openfaas.scale.<key>=<value> ... [args]
#
# with every com.openfaas.scale.* annotation of that function copied to a --label (faas-cli
# merges --label flags with the stack's labels). Any argument not listed above is passed
# on to faas-cli up unchanged (e.g. --skip-push, --tag sha, -g URL).
#   -f, --yaml FILE   stack file (default: stack.yml in the current directory)
#   --filter GLOB     only the functions whose name matches the shell glob GLOB
#   --dry-run         print the faas-cli commands, one per line, instead of running them
#
# Reads the stack with `greyfaas stack pro-labels` (GREYFAAS=path/to/greyfaas to choose
# the binary; otherwise greyfaas on PATH, else `cargo run -p greyfaas` in this checkout).
# OpenFaaS CE users: `faas-cli deploy -f stack.yml` instead (k8s/README.md).
set -euo pipefail

STACK=stack.yml
DRY_RUN=0
FILTER='*'
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -f|--yaml) [ $# -ge 2 ] || { echo "faas-up-pro: $1 needs a file" >&2; exit 2; }
               STACK=$2; shift 2 ;;
    -f=*|--yaml=*) STACK=${1#*=}; shift ;;
    --filter) [ $# -ge 2 ] || { echo "faas-up-pro: --filter needs a glob" >&2; exit 2; }
              FILTER=$2; shift 2 ;;
    --filter=*) FILTER=${1#*=}; shift ;;
    --regex|--regex=*) echo "faas-up-pro: --regex is not supported; use --filter GLOB" >&2; exit 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
[ -f "$STACK" ] || { echo "faas-up-pro: no stack file $STACK" >&2; exit 2; }

# One line per function: the name, then TAB-separated key=value for each
# com.openfaas.scale.* annotation. greyfaas reads the stack itself (faas-cli's
# substitution, then YAML), so nothing here parses YAML: $GREYFAAS if set, else greyfaas
# on PATH, else greyfaas built from this checkout (the first build takes minutes).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${GREYFAAS:-}" ]; then
  GREYFAAS_CMD=("$GREYFAAS")
elif command -v greyfaas >/dev/null 2>&1; then
  GREYFAAS_CMD=(greyfaas)
else
  GREYFAAS_CMD=(cargo run --quiet --release --manifest-path "$ROOT/Cargo.toml" -p greyfaas --)
fi
FUNCS=$("${GREYFAAS_CMD[@]}" stack -f "$STACK" pro-labels)

if [ "$DRY_RUN" = 0 ] && ! command -v faas-cli >/dev/null 2>&1; then
  echo "faas-up-pro: faas-cli not found (https://github.com/openfaas/faas-cli)" >&2
  exit 127
fi

matched=0
while IFS=$'\t' read -r -a fields; do
  [ "${#fields[@]}" -gt 0 ] || continue
  fn=${fields[0]}
  # shellcheck disable=SC2053  # FILTER is a glob on purpose
  [[ $fn == $FILTER ]] || continue
  matched=$((matched + 1))
  cmd=(faas-cli up -f "$STACK" --filter "$fn")
  for kv in "${fields[@]:1}"; do cmd+=(--label "$kv"); done
  cmd+=("${PASS[@]}")
  if [ "$DRY_RUN" = 1 ]; then
    printf '%q' "${cmd[0]}"; printf ' %q' "${cmd[@]:1}"; printf '\n'
  else
    echo "faas-up-pro: ${cmd[*]}" >&2
    "${cmd[@]}"
  fi
done <<<"$FUNCS"

if [ "$matched" = 0 ]; then
  echo "faas-up-pro: no function in $STACK matches --filter '$FILTER'" >&2
  exit 1
fi
