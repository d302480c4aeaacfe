-- comparable_rows.sql: the rows of a sweep database that two runs of the same spec and binary must
-- share exactly, whatever the sharding (1 GPU vs --devices 0,1; Slurm shards + merge vs one run):
-- every column but the two measured wall times (the truth's and the attribution's seconds).
-- Read by experiments/device/multi_gpu_run.sh and tests/slurm/slurm_test.sh.
SELECT point_key, kernel, status, message, config, json_remove(metrics, '$.truth_seconds'),
       json_remove(attribution, '$.seconds')
FROM results ORDER BY point_key, kernel
