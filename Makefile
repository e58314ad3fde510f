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

autograde: venv  ## grade every submission under submitted/<student>/<assignment>/
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader autograde "$$a" --force || exit 1; done

feedback: venv  ## HTML feedback under feedback/<student>/<assignment>/
	for a in $(ASSIGNMENTS); do $(BIN)/nbgrader generate_feedback "$$a" --force || exit 1; done

grades: venv  ## export the gradebook to grades.csv
	$(BIN)/nbgrader export --to grades.csv

benchmark: venv  ## accuracy/sparsity/size table and notebook run times (prints figures)
	$(BIN)/python benchmarks/tradeoff.py

clean-grading:  ## remove the gradebook and all submission/grading folders
	rm -rf gradebook.db submitted autograded feedback grades.csv
