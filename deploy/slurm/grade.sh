#!/bin/bash
# Grade a course on a Slurm cluster and wait for it: prepare, one array task per submitted notebook,
# then `collect` (the gradebook's only writer, nbgrader's own autograde on the finished jobs, with
# the feedback and the summary table). Run from the course root:
#
#   deploy/slurm/grade.sh [--prepare-on-node] [ASSIGNMENT ...] [--student S ...]
#
# --prepare-on-node   run `prepare` (templates, and the checkpoint cache warmed by running each
#                     source notebook: minutes when cold) as a Slurm job instead of on this host.
# GRADING_MEM         memory per array task (default 5G: the sandbox's 4 GiB cap plus the trusted
#                     side); a node configured with less refuses the job, so lower both together.
# GRADING_SBATCH      extra sbatch options for every job (e.g. "--partition=teaching --account=cs101").
#
# Requirements: the course root, its .venv (`make venv sandbox` on the node image) and the data
# folder (~/.cache/pruning-workbook/data, or $PRUNING_DATA_DIR) at the same paths on every node,
# since the job folders record absolute paths. Logs: .grading/slurm/ (git-ignored with .grading/).
set -euo pipefail
[ -d solutions ] && [ -f nbgrader_config.py ] || { echo "run this from the course root" >&2; exit 2; }
export PATH="$PWD/.venv/bin:$PATH"
on_node=
args=()
for a in "$@"; do
  if [ "$a" = --prepare-on-node ]; then on_node=1; else args+=("$a"); fi
done
mem=${GRADING_MEM:-5G}
read -r -a extra <<< "${GRADING_SBATCH:-}"
mkdir -p .grading/slurm
if [ -n "$on_node" ]; then
  echo "prepare: as a Slurm job (log: .grading/slurm/prepare-<job>.log)"
  sbatch --wait --quiet "${extra[@]}" --job-name=pruning-prepare --mem="$mem" \
    --output=.grading/slurm/prepare-%j.log --wrap "python -m grading prepare ${args[*]:-}"
else
  python -m grading prepare "${args[@]}"
fi
n=$(wc -l < .grading/jobs.txt)
[ "$n" -gt 0 ] || { echo "nothing to grade" >&2; exit 1; }
array=$(sbatch --parsable "${extra[@]}" --array=1-"$n"%100 --mem="$mem" deploy/slurm/grade.sbatch)
echo "grading: $n notebook(s) in array job $array (logs: .grading/slurm/grade-${array}_<task>.log)"
status=0
sbatch --wait --quiet "${extra[@]}" --job-name=pruning-collect --dependency=afterany:"$array" \
  --mem=2G --output=.grading/slurm/collect-%j.log --wrap "python -m grading collect" || status=$?
report=$(ls -t .grading/slurm/collect-*.log | head -1)
echo "collect's report: $report"
cat "$report"
exit "$status"
