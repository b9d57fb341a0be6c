-- The executor looks for lapsed leases of a run's running tasks; without this index that is a scan
-- of every task instance of the run, which a 10,000-task DAG made costly.
CREATE INDEX task_instances_running ON task_instances (run_id, lease_until) WHERE state = 'running';
