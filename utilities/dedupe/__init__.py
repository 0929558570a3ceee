"""Acting on duplicates (issue 11, cli-contract.md "Acting on duplicates"): keep rules, the plan, applying
it with every check made again, the journal interface, and cleanup after an interrupted run.

Modules, in the order data flows through them:
  found       DupeFile, DupeGroup, Findings: what a scan found, as planning takes it
  keep        parse_keep(), rank(): the --keep rules
  plan        make_plan() -> Plan of GroupPlan and Operation
  mounts      which file systems surely cannot clone (so a reflink plan claims nothing there)
  planfile    write_plan(), load_plan(): the plan as JSON (--plan, --apply-plan); PlanError
  compare     open_checked(), first_differences(): stat checks and byte-for-byte comparison through descriptors
  replace     atomic replacement by a hard link, symbolic link or clone; removal
  quarantine  move into --move-to and undo_move()
  journal     JournalEntry, Journal (the interface the catalog's table implements), MemoryJournal
  apply       apply_plan() -> ApplyResult
  leftovers   temporary names, and finding and removing those an interrupted run left
  render      the dry-run and apply output in shell syntax (quoting.shell_quote for the paths)

The command line's flow: keep.parse_keep(--keep) -> plan.make_plan(Findings, ...) -> render.dry_run_lines
(and planfile.write_plan for --plan); with --apply, leftovers.clean_under(roots) before the scan, then
apply.apply_plan(plan, journal, protect=..., on_bytes=bar.update) -> render.apply_lines. --apply-plan:
planfile.load_plan -> apply.apply_plan. --undo-move: quarantine.undo_move / undo_moves on journal entries.
"""
