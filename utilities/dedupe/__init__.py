"""Acting on duplicates (issue 11, cli-contract.md "Acting on duplicates"): keep rules, the plan, applying
it with every check made again, the journal interface, and cleanup after an interrupted run.

Modules, in the order data flows through them:
  found       DupeFile, DupeGroup, Findings: what a scan found, as planning takes it
  keep        parse_keep(), rank(): the --keep rules
  plan        make_plan() -> Plan of GroupPlan and Operation
  planfile    write_plan(), load_plan(): the plan as JSON (--plan, --apply-plan); PlanError
  compare     open_checked(), compare_with(): stat checks and byte-for-byte comparison through descriptors
  replace     atomic replacement by a hard link, symbolic link or clone; removal
  quarantine  move into --move-to and undo_move()
  journal     JournalEntry, Journal (the interface the catalog's table implements), MemoryJournal
  apply       apply_plan() -> ApplyResult
  leftovers   temporary names, and finding and removing those an interrupted run left
  render      the dry-run and apply output in shell syntax
"""
