"""Instructor grading of submitted lab notebooks (the modules behind ``tools/grade.py``).

How a submission is graded, and why each step is there:

1. ``submission``: the file is read and checked as nbformat 4 JSON (an empty file, invalid
   JSON or a JSON file that is not a notebook gets its row and status, with no execution). Its
   code cells are listed, minus the cells tagged ``slow`` (in the submission or, matched by
   cell id, in the solution notebook, so removing a tag does not make a class slow to grade).
   A static scan (AST) flags exercise functions that use the lab's reference implementation.
2. ``scoring``: the parent draws every exercise's cases with a fresh random seed at grading
   time, computes the reference outputs itself (their shapes and dtypes are what an answer
   must match), and encodes the inputs as JSON (``cases_io``; no pickle, no npz).
3. ``stage`` builds, once per run, the read-only view a sandbox sees: the child program and a
   copy of ``utils`` (``.py`` files only) in which the reference of every graded exercise is
   a stub raising ``ReferenceUnavailableError``. Forging outputs takes a working
   implementation: there is no reference to call, copy or execute.
4. ``sandbox`` runs ``child.py`` for ONE submission in a fresh bubblewrap sandbox (new
   user/PID/network/IPC/mount namespaces, as ``nobody`` when the grader is root, a private
   size-capped tmpfs as the only writable place, a scrubbed environment, rlimits on memory,
   CPU, files and processes, a wall-clock limit per notebook after which the whole sandbox
   is killed). The task goes in on stdin; the answers come back on stdout, one JSON message
   a line, read with a size cap: one channel per submission, so nothing one student writes
   reaches another's row.
5. The child executes the student's cells in order (per-cell alarm) and, right after the last
   cell that defines an exercise, calls the student's function on the hidden inputs and
   sends the raw outputs (so an exercise already graded survives a later crash, loop or
   ``os._exit``). Nothing it sends is trusted.
6. ``scoring`` (in the parent) checks every answer against the reference's shapes and dtypes
   before decoding it, under a cap on decoded bytes, compares with ``utils.checks.evaluate``,
   and decides every flag itself. Text quoted in the feedback comes from the student's own
   code only (cut, filtered, and never a value of the grader's environment).
7. ``report`` writes the CSV (atomic rewrite after every student; a rerun grades only
   missing or changed submissions, or those graded by another grader or sandbox mode) and one
   Markdown feedback file per student; ``similarity`` adds copy detection (normalised token
   similarity against the reference and every other submission) to the CSV and ``report.md``.
8. ``batch`` checks the output folder first, then runs independent submissions in parallel
   (threads that each wait on a sandbox) and removes the run's view at the end (views of
   runs that died are removed at the next start).

The grader itself runs with bytecode writing off and imports nothing a sandbox can write.
Without bubblewrap it refuses to run unless given ``--unsafe-no-sandbox`` (plain processes of
the grading user; every row is marked ``unsandboxed``).

See ``tools/grade.py`` for the command line and ``report`` for scores, statuses and flags.
"""

# Bump when a change in grading should regrade everything on the next run. The CSV also
# records a hash of the grading code and of the exercise definitions (see batch.grader_id).
GRADER_VERSION = "3"
