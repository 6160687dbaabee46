/**
 * "Expense Tracker / Data tier": PostgreSQL (postgres_exporter, kubelet volume statistics, the
 * app's connection pool) and Redis (redis_exporter).
 */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { selector } from '../promql.js';
import type { MonitoringSettings } from '@expense-tracker/model/monitoring';
import { JOBS, type MonitoredTopology } from '../targets.js';
import { buildDashboard, stat, thresholds, timeseries, valueText } from './kit.js';

const RATE = '[$__rate_interval]';

export function dataTierDashboard(settings: MonitoringSettings, topology: MonitoredTopology): Dashboard {
  const ns = topology.namespace;
  const pg = (metric: string, extra: Record<string, string | { re: string }> = {}) => selector(metric, { namespace: ns, job: JOBS.postgres, ...extra });
  const db = (metric: string, extra: Record<string, string | { re: string }> = {}) => pg(metric, { datname: topology.postgresDatabase, ...extra });
  const redis = (metric: string) => selector(metric, { namespace: ns, job: JOBS.redis });
  const volume = (metric: string) => selector(metric, { namespace: ns, persistentvolumeclaim: { re: topology.postgresVolumeClaims } });
  const upDown = valueText({ 0: ['DOWN', 'red'], 1: ['UP', 'green'] });
  const freeWarn = settings.alerts.postgresVolumeFreePercent / 100;
  const rows = [
    {
      title: 'PostgreSQL',
      panels: [
        { width: 4, height: 4, panel: stat('PostgreSQL', { expr: `min(${pg('pg_up')})` }, { unit: 'short', description: 'Whether postgres_exporter can connect to the database the app uses.', mappings: upDown, thresholds: thresholds('red', [1, 'green']) }) },
        { width: 4, height: 4, panel: stat('Connections', { expr: `sum(${db('pg_stat_database_numbackends')})` }, { unit: 'short', decimals: 0, description: `Backends connected to database ${topology.postgresDatabase}.`, thresholds: thresholds('blue') }) },
        { width: 4, height: 4, panel: stat('Database size', { expr: `sum(${db('pg_database_size_bytes')})` }, { unit: 'bytes', description: `On-disk size of database ${topology.postgresDatabase}.`, thresholds: thresholds('blue') }) },
        {
          width: 4,
          height: 4,
          panel: stat('Volume free', { expr: `min(${volume('kubelet_volume_stats_available_bytes')} / ${volume('kubelet_volume_stats_capacity_bytes')})` }, {
            unit: 'percentunit',
            decimals: 1,
            description: 'Free space of PostgreSQL’s data volume (kubelet statistics; only in a cluster).',
            thresholds: thresholds('red', [freeWarn, 'orange'], [freeWarn * 2, 'green']),
          }),
        },
        { width: 4, height: 4, panel: stat('Deadlocks', { expr: `sum(increase(${db('pg_stat_database_deadlocks')}[$__range]))` }, { unit: 'short', decimals: 0, description: 'Deadlocks detected in the selected time range.', thresholds: thresholds('green', [1, 'orange']) }) },
        { width: 4, height: 4, panel: stat('Longest transaction', { expr: `max(${db('pg_stat_activity_max_tx_duration')})` }, { unit: 's', description: 'Age of the oldest open transaction: long ones hold locks and block vacuum.', thresholds: thresholds('green', [60, 'orange'], [600, 'red']) }) },
        {
          width: 8,
          height: 8,
          panel: timeseries(
            'Transactions/s',
            [
              { expr: `sum(rate(${db('pg_stat_database_xact_commit')}${RATE}))`, legend: 'commits' },
              { expr: `sum(rate(${db('pg_stat_database_xact_rollback')}${RATE}))`, legend: 'rollbacks' },
            ],
            { unit: 'ops', min: 0, description: 'Committed and rolled back transactions per second.' },
          ),
        },
        {
          width: 8,
          height: 8,
          panel: timeseries(
            'Rows/s',
            ['fetched', 'inserted', 'updated', 'deleted'].map((op) => ({ expr: `sum(rate(${db(`pg_stat_database_tup_${op}`)}${RATE}))`, legend: op })),
            { unit: 'ops', min: 0, description: 'Rows read and written per second.' },
          ),
        },
        {
          width: 8,
          height: 8,
          panel: timeseries('Buffer cache hit ratio', [{ expr: `sum(rate(${db('pg_stat_database_blks_hit')}${RATE}))\n/\n(sum(rate(${db('pg_stat_database_blks_hit')}${RATE})) + sum(rate(${db('pg_stat_database_blks_read')}${RATE})))`, legend: 'hit ratio' }], {
            unit: 'percentunit',
            max: 1,
            description: 'Blocks found in shared buffers ÷ all blocks read; a falling ratio means the working set outgrows memory.',
          }),
        },
        { width: 8, height: 8, panel: timeseries('Connections by state', [{ expr: `sum by (state) (${db('pg_stat_activity_count')})`, legend: '{{state}}' }], { unit: 'short', min: 0, stack: true, description: 'Server connections by state (active, idle, idle in transaction, ...).' }) },
        { width: 8, height: 8, panel: timeseries('Locks by mode', [{ expr: `sum by (mode) (${db('pg_locks_count')})`, legend: '{{mode}}' }], { unit: 'short', min: 0, description: 'Locks held by mode.' }) },
        {
          width: 8,
          height: 8,
          panel: timeseries('App connection pool', [{ expr: `sum by (state) (${selector('pg_pool_connections', { namespace: ns, job: JOBS.web })})`, legend: '{{state}}' }], { unit: 'short', min: 0, description: 'The web pods’ pg Pool clients (total, idle, waiting), summed over pods.' }),
        },
        {
          width: 24,
          height: 7,
          panel: timeseries('Data volume used', [{ expr: `1 - ${volume('kubelet_volume_stats_available_bytes')} / ${volume('kubelet_volume_stats_capacity_bytes')}`, legend: '{{persistentvolumeclaim}}' }], {
            unit: 'percentunit',
            min: 0,
            max: 1,
            description: `Used share of each PostgreSQL data volume (kubelet statistics; only in a cluster). ExpensePostgresVolumeLow fires above ${100 - settings.alerts.postgresVolumeFreePercent}%.`,
            thresholds: thresholds('green', [1 - freeWarn, 'red']),
          }),
        },
      ],
    },
    {
      title: 'Redis',
      panels: [
        { width: 4, height: 4, panel: stat('Redis', { expr: `min(${redis('redis_up')})` }, { unit: 'short', description: 'Whether redis_exporter can reach Redis.', mappings: upDown, thresholds: thresholds('red', [1, 'green']) }) },
        { width: 4, height: 4, panel: stat('Memory used', { expr: `sum(${redis('redis_memory_used_bytes')})` }, { unit: 'bytes', description: 'Memory Redis has allocated.', thresholds: thresholds('blue') }) },
        { width: 4, height: 4, panel: stat('Clients', { expr: `sum(${redis('redis_connected_clients')})` }, { unit: 'short', decimals: 0, description: 'Connected clients (the web pods’ ioredis connections and the exporter).', thresholds: thresholds('blue') }) },
        { width: 4, height: 4, panel: stat('Keys', { expr: `sum(${redis('redis_db_keys')})` }, { unit: 'short', decimals: 0, description: 'Keys in all databases (cached aggregates and sessions).', thresholds: thresholds('blue') }) },
        { width: 4, height: 4, panel: stat('Evicted keys', { expr: `sum(increase(${redis('redis_evicted_keys_total')}[$__range]))` }, { unit: 'short', decimals: 0, description: 'Keys evicted for lack of memory in the selected time range.', thresholds: thresholds('green', [1, 'orange']) }) },
        { width: 4, height: 4, panel: stat('Uptime', { expr: `min(${redis('redis_uptime_in_seconds')})` }, { unit: 's', description: 'Time since Redis started; a reset means a restart (and an empty cache without persistence).', thresholds: thresholds('orange', [600, 'green']) }) },
        { width: 8, height: 8, panel: timeseries('Commands/s', [{ expr: `sum(rate(${redis('redis_commands_processed_total')}${RATE}))`, legend: 'commands' }], { unit: 'ops', min: 0, description: 'Commands processed per second.' }) },
        {
          width: 8,
          height: 8,
          panel: timeseries('Keyspace hit ratio', [{ expr: `sum(rate(${redis('redis_keyspace_hits_total')}${RATE}))\n/\n(sum(rate(${redis('redis_keyspace_hits_total')}${RATE})) + sum(rate(${redis('redis_keyspace_misses_total')}${RATE})))`, legend: 'hit ratio' }], {
            unit: 'percentunit',
            min: 0,
            max: 1,
            description: 'Key lookups that found a key ÷ all lookups.',
          }),
        },
        {
          width: 8,
          height: 8,
          panel: timeseries(
            'Memory',
            [
              { expr: `sum(${redis('redis_memory_used_bytes')})`, legend: 'used' },
              { expr: `sum(${redis('redis_memory_max_bytes')})`, legend: 'maxmemory (0 = unlimited)' },
            ],
            { unit: 'bytes', min: 0, description: 'Used memory against the maxmemory setting.' },
          ),
        },
      ],
    },
  ];
  return buildDashboard({
    uid: `expense-data-${topology.environment}`,
    title: `Expense Tracker / Data tier (${topology.environment})`,
    description: 'PostgreSQL and Redis behind the expense tracker: availability, load, cache efficiency and storage.',
    tags: ['expense-tracker', topology.environment, 'postgresql', 'redis'],
    rows,
  });
}
