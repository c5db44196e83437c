"""Instructor grading of submitted lab notebooks (the modules behind ``tools/grade.py``).

How a submission is graded, and why each step is there:

1. ``submission``: the file is read and checked as nbformat 4 JSON (an empty file, invalid
   JSON or a JSON file that is not a notebook gets its row and status, with no execution). Its
   code cells are listed, minus the cells tagged ``slow`` (in the submission or, matched by
   cell id, in the solution notebook, so removing a tag does not make a class slow to grade).
   A static scan (AST) flags exercise functions that use the lab's reference implementation.
2. ``scoring``: the parent draws every exercise's cases with a fresh random seed at grading
   time and writes only their inputs (``cases_io``, ``np.savez`` without pickles) into a
   temporary working folder.
3. ``sandbox`` runs ``child.py`` in a new process (own session, ``python -I``, one BLAS
   thread) with limits on address space, CPU time and file size, a per-cell alarm, and a
   wall-clock limit per notebook enforced by the parent (the whole process group is killed).
   To start fast, each process is forked from a ``zygote`` that has already imported what
   the lab's notebook imports (NumPy, matplotlib, ``utils``, torch); it never runs student
   code itself. Without a usable zygote, a plain ``python -I child.py`` is started instead.
   The child executes the student's cells in order and, right after the last cell that
   defines an exercise, calls the student's function on the hidden inputs and saves the raw
   outputs (so an exercise already graded survives a later crash, loop or ``os._exit``).
4. ``scoring`` (in the parent) computes the reference outputs itself and compares them with
   ``utils.checks.evaluate``: nothing the student prints, patches or replaces in the child
   (``check``, ``compare_outputs``, ``utils.layers``) changes a score.
5. ``report`` writes the CSV (atomic rewrite after every student; a rerun grades only
   missing or changed submissions) and one Markdown feedback file per student, with the
   check-style verdicts and hints but no hidden input values and no reference outputs.
6. ``batch`` runs independent submissions in parallel (threads that each wait on a child).

What the sandbox is not: the child runs as the grading user, so it can read and write that
user's files, use the network and signal that user's processes. Limits stop accidents and
the failure modes listed in the course's grading issue; for a class you do not trust, run
the grader in a container or as a dedicated user with a read-only checkout.

See ``tools/grade.py`` for the command line and the policy on scores, statuses and flags.
"""

# Bump when a change in grading should regrade everything on the next run. The CSV also
# records a hash of the grading code and of the exercise definitions (see batch.grader_id).
GRADER_VERSION = "1"
