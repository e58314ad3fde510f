# The course's commands. `make lab` (main job) and `make test` install what they need first.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PYTHON ?= python3
# nbgrader shells out to alembic: keep the venv's bin/ first on PATH.
export PATH := $(BIN):$(PATH)
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))

.PHONY: venv sandbox browser slurm lab formgrader test lint release colab autograde feedback release-feedback grades benchmark benchmark-grading clean-grading

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[course]"
	touch $@

venv: $(VENV)/.installed  ## create .venv with the pinned, known-good set

lab: venv  ## main job: JupyterLab on the learner notebooks
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

formgrader: venv  ## instructors: JupyterLab at the course root, formgrader under Nbgrader > Formgrader
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

lint: venv
	$(BIN)/ruff check .

# The grading sandbox is bubblewrap (Debian's `bubblewrap`); installed here when run as root.
sandbox:  ## bubblewrap for the grading sandbox
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -q bubblewrap || { apt-get update -q && apt-get install -y -q bubblewrap; }; }; } || \
	  { echo "the grading sandbox needs bubblewrap: install it (apt-get install bubblewrap) as root"; exit 1; }

# The browser test drives JupyterLab in headless Chromium (Debian's `chromium`, `chromium-driver`).
browser:  ## Chromium and its WebDriver for the browser test
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -q chromium chromium-driver || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; }; } || \
	  { echo "the browser test needs Chromium: install it (apt-get install chromium chromium-driver) as root"; exit 1; }

# The Slurm test starts a real single-node cluster from Debian's packages; installed here when run as root.
slurm:  ## Slurm's daemons and client, and munge, for the cluster test
	@{ command -v sbatch >/dev/null && [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/munged ]; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -q slurmctld slurmd slurm-client munge || { apt-get update -q && apt-get install -y -q slurmctld slurmd slurm-client munge; }; }; } || \
	  { echo "the Slurm test needs Slurm: install it (apt-get install slurmctld slurmd slurm-client munge) as root"; exit 1; }

test: venv lint sandbox browser slurm  ## ruff, then every test (helpers, solutions, releases, sandboxed grading, JupyterLab in Chromium, a Colab-like install)
	$(BIN)/python -m pytest

release: venv  ## regenerate notebooks/ (learner versions) from solutions/
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader generate_assignment "$$a" --force || exit 1; done

# REPO=owner/name [BRANCH=main]: the GitHub copy of this course that learners open in Colab.
colab: venv  ## point every notebook's Colab install, and the README's Open-in-Colab badges, at REPO
	@[ -n "$(REPO)" ] || { echo "make colab needs REPO=owner/name, the GitHub repository that hosts the course"; exit 2; }
	$(BIN)/python deploy/colab.py "$(REPO)" --branch "$(or $(BRANCH),main)"
	$(MAKE) release

# Run an nbgrader command for each assignment that has folders under $(1)/<student>/.
define each_assignment
	@found=; for a in $(ASSIGNMENTS); do \
	  if ls -d $(1)/*/"$$a" >/dev/null 2>&1; then found=1; $(BIN)/nbgrader $(2) "$$a" $(4) || exit 1; \
	  else echo "$(2): nothing in $(1)/<student>/$$a/, skipped"; fi; \
	done; \
	[ -n "$$found" ] || { echo "$(2): nothing to do: $(3)"; exit 1; }
endef

# ASSIGNMENT=name, STUDENT=id: only those (regrade one); JOBS=n: parallel workers (default: the
# machine's cores); GRADING_ARGS: e.g. --timeout 60, --no-sandbox.
autograde: venv sandbox  ## grade every submission under submitted/<student>/<assignment>/ (sandboxed), make feedback
	$(BIN)/python -m grading autograde $(ASSIGNMENT) $(if $(STUDENT),--student $(STUDENT)) \
	  $(if $(JOBS),--jobs $(JOBS)) $(GRADING_ARGS)

feedback: venv  ## HTML feedback from the gradebook (manual grades and comments included) under feedback/
	$(call each_assignment,autograded,generate_feedback,run make autograde first,--force)

release-feedback: feedback  ## feedback made afresh from the gradebook, then released to the exchange
	$(call each_assignment,feedback,release_feedback,run make autograde first)

grades: venv  ## export the gradebook to grades.csv
	$(BIN)/nbgrader export --to grades.csv

benchmark: venv  ## trade-off, notebook run times, schedules, savings, criteria (3 seeds each), 2:4 on a GPU (prints figures)
	$(BIN)/python benchmarks/tradeoff.py
	$(BIN)/python benchmarks/schedules.py
	$(BIN)/python benchmarks/savings.py
	$(BIN)/python benchmarks/criteria.py
	$(BIN)/python benchmarks/semi_structured.py

benchmark-grading: venv sandbox  ## 40 submissions of 01 graded on 1 and 2 workers (prints figures)
	$(BIN)/python benchmarks/grading.py

clean-grading:  ## remove the gradebook and all submission/grading folders
	rm -rf gradebook.db submitted autograded feedback grades.csv .grading
