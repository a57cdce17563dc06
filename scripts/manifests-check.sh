#!/usr/bin/env bash
# Validates every manifest in deploy/kubernetes/ against the Kubernetes API
# schemas with kubernetes-validate --strict (unknown fields are errors, so a
# typo such as `readinesProbe` fails instead of being silently dropped).
#
# Offline: kubernetes-validate ships the schemas of every version it knows
# inside its wheel and resolves their $refs locally; nothing is fetched.
#
# kubernetes-validate prints a WARN and still exits 0 when it has no schema
# for a kind/apiVersion (a typo'd kind, or an API removed from the checked
# version), so any line that is not an INFO pass counts as a failure here.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned, like Cargo.lock: a newer release drops the oldest schema versions.
validator_version=1.37.0
# Pinned too, not the validator's default (its newest): 1.35, a year-old
# minor that clusters still run, and 1.37, the newest this validator knows.
# A manifest must be valid on both.
kubernetes_versions=(1.35.0 1.37.0)

installed=$(python3 -c 'from kubernetes_validate.version import __version__; print(__version__)' 2>/dev/null || true)
if [ "$installed" != "$validator_version" ]; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "kubernetes-validate==$validator_version"
fi

shopt -s nullglob
manifests=(deploy/kubernetes/*.yaml deploy/kubernetes/*.yml)
if [ ${#manifests[@]} -eq 0 ]; then
  echo "no manifests found in deploy/kubernetes/" >&2
  exit 1
fi

args=(--strict)
for version in "${kubernetes_versions[@]}"; do
  args+=(--kubernetes-version "$version")
done

status=0
output=$(python3 -m kubernetes_validate "${args[@]}" "${manifests[@]}" 2>&1) || status=$?
printf '%s\n' "$output"
if [ "$status" -ne 0 ]; then
  echo "kubernetes-validate failed (exit $status)" >&2
  exit 1
fi
if grep -qv '^INFO ' <<<"$output"; then
  echo "kubernetes-validate reported something other than a pass (see above)" >&2
  exit 1
fi
passes=$(grep -c '^INFO ' <<<"$output" || true)
echo "manifests: $passes resource checks passed (${#manifests[@]} files, Kubernetes ${kubernetes_versions[*]}, kubernetes-validate $validator_version, --strict)"
