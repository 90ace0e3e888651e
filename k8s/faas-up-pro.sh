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
# Reads the stack with python3 + PyYAML when available, else with a small awk reader that
# understands stack.yml's block layout (2-space indents, `key: value` scalars).
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

# Prints one line per function: the name, then TAB-separated key=value for each
# com.openfaas.scale.* annotation, in file order.
read_stack_python() {
  python3 - "$STACK" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    data = yaml.safe_load(f) or {}
for name, spec in (data.get("functions") or {}).items():
    ann = (spec or {}).get("annotations") or {}
    pairs = ["%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v)
             for k, v in ann.items() if str(k).startswith("com.openfaas.scale.")]
    print("\t".join([str(name)] + pairs))
PY
}

read_stack_awk() {
  awk '
    function unquote(v) {
      sub(/^[ \t]+/, "", v)
      if (v ~ /^"/) { sub(/^"/, "", v); sub(/".*$/, "", v); return v }
      if (v ~ /^'\''/) { sub(/^'\''/, "", v); sub(/'\''.*$/, "", v); return v }
      sub(/[ \t]+#.*$/, "", v); sub(/[ \t]+$/, "", v); return v
    }
    function flush() { if (fn != "") print line; fn = "" }
    /^[ \t]*(#|$)/ { next }
    {
      match($0, /^ */); ind = RLENGTH; text = substr($0, ind + 1)
      if (ind == 0) { flush(); top = text; sub(/:.*/, "", top); next }
      if (top != "functions") next
      if (ind == 2) { flush(); fn = text; sub(/:.*/, "", fn); line = fn; sect = ""; next }
      if (ind == 4) { sect = text; sub(/:.*/, "", sect); next }
      if (ind == 6 && sect == "annotations") {
        key = text; sub(/:.*/, "", key); gsub(/^["'\'']|["'\'']$/, "", key)
        val = text; sub(/^[^:]*:/, "", val); val = unquote(val)
        if (key ~ /^com\.openfaas\.scale\./) line = line "\t" key "=" val
      }
    }
    END { flush() }
  ' "$STACK"
}

if [ "${GREYFAAS_NO_PYYAML:-0}" != 1 ] && command -v python3 >/dev/null 2>&1 \
   && python3 -c 'import yaml' 2>/dev/null; then
  FUNCS=$(read_stack_python)
else
  FUNCS=$(read_stack_awk)
fi

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
