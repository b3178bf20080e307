#!/usr/bin/env bash
# Kills a random blockstore pod every INTERVAL seconds for DURATION seconds, but only while every
# replica is ready (so at most one is down at a time, as the PodDisruptionBudget allows). MODE=kill
# deletes with no grace (a crash); MODE=graceful lets the node drain and deregister.
set -euo pipefail
DURATION="${DURATION:-300}"
INTERVAL="${INTERVAL:-30}"
MODE="${MODE:-kill}"
SELECTOR="${SELECTOR:-app.kubernetes.io/name=blockstore}"
STATEFULSET="${STATEFULSET:-blockstore}"
KILLS_MAX="${KILLS_MAX:-100}"

case "$MODE" in kill) grace=(--grace-period=0 --force) ;; graceful) grace=() ;; *) echo "MODE must be kill or graceful, got $MODE" >&2; exit 2 ;; esac
deadline=$(( $(date +%s) + DURATION ))
kills=0
while [ "$(date +%s)" -lt "$deadline" ] && [ "$kills" -lt "$KILLS_MAX" ]; do
  sleep "$INTERVAL"
  desired=$(kubectl get statefulset "$STATEFULSET" -o 'jsonpath={.spec.replicas}')
  ready=$(kubectl get statefulset "$STATEFULSET" -o 'jsonpath={.status.readyReplicas}')
  if [ "${ready:-0}" -lt "$desired" ]; then
    echo "$(date -u +%FT%TZ) skip: ${ready:-0}/$desired ready"
    continue
  fi
  mapfile -t pods < <(kubectl get pods -l "$SELECTOR" -o 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}')
  [ "${#pods[@]}" -gt 0 ] || continue
  victim="${pods[RANDOM % ${#pods[@]}]}"
  echo "$(date -u +%FT%TZ) $MODE $victim"
  kubectl delete pod "$victim" --wait=false "${grace[@]}"
  kills=$(( kills + 1 ))
done
echo "done: $kills pods killed"
