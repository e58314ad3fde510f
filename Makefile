# The course's commands. `make lab` (main job) and `make test` install what they need first.
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PYTHON ?= python3
# nbgrader shells out to alembic: keep the venv's bin/ first on PATH.
export PATH := $(BIN):$(PATH)
ASSIGNMENTS := $(notdir $(wildcard solutions/[0-9]*))

.PHONY: venv lab test lint release autograde feedback grades benchmark clean-grading

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[course]"
	touch $@

venv: $(VENV)/.installed  ## create .venv with the pinned, known-good set

lab: venv  ## main job: JupyterLab on the learner notebooks
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

lint: venv
	$(BIN)/ruff check .

test: venv lint  ## ruff, then every test (helpers, solutions, releases, nbgrader grading)
	$(BIN)/python -m pytest

release: venv  ## regenerate notebooks/ (learner versions) from solutions/
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader generate_assignment "$$a" --force || exit 1; done

# Run an nbgrader command for each assignment that has folders under $(1)/<student>/.
define each_assignment
	@found=; for a in $(ASSIGNMENTS); do \
	  if ls -d $(1)/*/"$$a" >/dev/null 2>&1; then found=1; $(BIN)/nbgrader $(2) "$$a" --force || exit 1; \
	  else echo "$(2): nothing in $(1)/<student>/$$a/, skipped"; fi; \
	done; \
	[ -n "$$found" ] || { echo "$(2): nothing to do: $(3)"; exit 1; }
endef

autograde: venv  ## grade every submission under submitted/<student>/<assignment>/
	$(call each_assignment,submitted,autograde,put submissions in submitted/<student>/<assignment>/<assignment>.ipynb)

feedback: venv  ## HTML feedback under feedback/<student>/<assignment>/
	$(call each_assignment,autograded,generate_feedback,run make autograde first)

grades: venv  ## export the gradebook to grades.csv
	$(BIN)/nbgrader export --to grades.csv

benchmark: venv  ## trade-off table, notebook run times, pruning schedules with 3 seeds (prints figures)
	$(BIN)/python benchmarks/tradeoff.py
	$(BIN)/python benchmarks/schedules.py

clean-grading:  ## remove the gradebook and all submission/grading folders
	rm -rf gradebook.db submitted autograded feedback grades.csv
