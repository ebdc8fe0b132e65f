-- Recovery plans and drills (internal/recoveryplan, internal/drill). Times are Unix nanoseconds,
-- 0 = none.

-- A recovery plan: ordered groups of protected machines (groups: JSON, recoveryplan.Group[]).
CREATE TABLE recovery_plans (
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    machine_count BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (vault_id, name)
);

-- One run of a plan (operation failover, test-failover or cleanup), a vault job. state:
-- running, paused, succeeded, failed. resume_seq grows with each resume request; the runner
-- waits, paused, until it passes paused_seq. owner_host/owner_pid: the vault process running it.
CREATE TABLE plan_runs (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL,
    plan TEXT NOT NULL,
    operation TEXT NOT NULL,
    options_json TEXT NOT NULL,
    state TEXT NOT NULL,
    step TEXT NOT NULL,
    paused_seq BIGINT NOT NULL,
    resume_seq BIGINT NOT NULL,
    job_id TEXT NOT NULL,
    error TEXT NOT NULL,
    owner_host TEXT NOT NULL,
    owner_pid BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    started BIGINT NOT NULL,
    ended BIGINT NOT NULL
);
CREATE INDEX plan_runs_plan ON plan_runs (vault_id, plan, started);

-- What a run did, step by step: a group's scripts and pauses (kind before, after, pause) and its
-- machines (kind machine). state: pending, running, succeeded, failed, skipped. boot_ns: the
-- boot check's wall time of a machine run with verify_boot (0: none); output: a script's output
-- tail, or the boot check's console tail.
CREATE TABLE plan_run_steps (
    run_id TEXT NOT NULL REFERENCES plan_runs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    group_index BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    job_id TEXT NOT NULL,
    point_id TEXT NOT NULL,
    boot_ns BIGINT NOT NULL,
    output TEXT NOT NULL,
    error TEXT NOT NULL,
    started BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- A drill: a test failover of a plan or a machine on a cron schedule, optionally with a boot
-- check, then cleanup. options_json: drill.Options. next_run is claimed by compare-and-set, so
-- that one vault replica runs each firing.
CREATE TABLE drills (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    machine TEXT NOT NULL,
    cron TEXT NOT NULL,
    options_json TEXT NOT NULL,
    next_run BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (vault_id, name)
);

-- The report of one drill firing (report_json: drill.Report).
CREATE TABLE drill_reports (
    id TEXT PRIMARY KEY,
    drill_id TEXT NOT NULL REFERENCES drills(id) ON DELETE CASCADE,
    scheduled BIGINT NOT NULL,
    started BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    success BIGINT NOT NULL,
    error TEXT NOT NULL,
    report_json TEXT NOT NULL
);
CREATE INDEX drill_reports_drill ON drill_reports (drill_id, scheduled);
