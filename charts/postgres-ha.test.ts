import { App, Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { patroniPolicyRules, patroniRestoreFragment, patroniConfig } from './patroni-config.js';
import { renderPgbackrestConfig } from './pgbackrest-config.js';
import { PostgresHa, type PostgresHaProps } from './postgres-ha.js';
import type { KubeObject } from './synthesize.js';
import { validateManifests } from './validate.js';

const s3 = { type: 's3' as const, endpoint: 's3.us-south.cloud-object-storage.appdomain.cloud', bucket: 'expense-backups', region: 'us-south' };

function synth(props: PostgresHaProps = {}): KubeObject[] {
  const app = Testing.app();
  const chart = new Chart(app, 'Test', { namespace: 'expense-tracker' });
  new PostgresHa(chart, 'Postgres', props);
  return Testing.synth(chart) as KubeObject[];
}

const find = (objects: KubeObject[], kind: string, name: string): any => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} missing`);
  return o;
};

describe('PostgresHa', () => {
  it('renders a 3-member Patroni StatefulSet with role-following Services, RBAC and a PDB by default', () => {
    const objects = synth();
    const sts = find(objects, 'StatefulSet', 'postgres');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(sts.spec.template.metadata.labels['cluster-name']).toBe('postgres');
    const pod = sts.spec.template.spec;
    expect(pod.serviceAccountName).toBe('postgres');
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
    expect(pod.containers[0].command).toEqual(['patroni', '/etc/patroni']);
    expect(pod.containers[0].readinessProbe.httpGet.path).toBe('/readiness');
    expect(pod.containers[0].livenessProbe.httpGet.path).toBe('/liveness');
    expect(find(objects, 'Service', 'postgres').spec.selector.role).toBe('primary');
    expect(find(objects, 'Service', 'postgres-replicas').spec.selector.role).toBe('replica');
    expect(find(objects, 'Service', 'postgres-headless').spec.clusterIP).toBe('None');
    expect(find(objects, 'Role', 'postgres-patroni').rules).toEqual(patroniPolicyRules());
    expect(find(objects, 'PodDisruptionBudget', 'postgres').spec.maxUnavailable).toBe(1);
    const config = parse(find(objects, 'ConfigMap', 'postgres-patroni').data['patroni.yaml']);
    expect(config.bootstrap.dcs.synchronous_mode).toBe(true);
    expect(config.kubernetes.use_endpoints).toBe(false);
    expect(objects.some((o) => o.kind === 'CronJob')).toBe(false);
  });

  it('passes the chart validator (OpenAPI, restricted profile, references) with backups on', () => {
    const objects = synth({ backup: { repository: s3, retention: { full: 4, diff: 6 } } });
    const secrets = [
      { name: 'postgres-credentials', keys: ['username', 'password', 'database'] },
      { name: 'postgres-patroni', keys: ['superuser-password', 'replication-password'] },
      { name: 'postgres-backup-s3', keys: ['access-key', 'secret-key'] },
    ].map(({ name, keys }) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'expense-tracker' }, data: Object.fromEntries(keys.map((k) => [k, 'eA=='])) }));
    expect(validateManifests([...objects, ...secrets])).toEqual([]);
  });

  it('schedules full and differential backups that exec pgBackRest in the primary only', () => {
    const objects = synth({ backup: { repository: s3, retention: { full: 4, diff: 6 }, schedule: { full: '0 2 * * 0', diff: '0 2 * * 1-6' } } });
    const full = find(objects, 'CronJob', 'postgres-backup-full');
    expect(full.spec.schedule).toBe('0 2 * * 0');
    expect(full.spec.concurrencyPolicy).toBe('Forbid');
    expect(full.spec.jobTemplate.spec.template.spec.containers[0].command).toEqual(['kubectl', 'exec', 'service/postgres', '--container', 'postgres', '--', 'pgbackrest', '--stanza=expense', '--type=full', 'backup']);
    expect(find(objects, 'CronJob', 'postgres-backup-diff').spec.jobTemplate.spec.template.spec.containers[0].command).toContain('--type=diff');
    const role = find(objects, 'Role', 'postgres-backup');
    expect(role.rules.find((r: any) => r.resources[0] === 'pods/exec').resourceNames).toEqual(['postgres-0', 'postgres-1', 'postgres-2']);
    const conf = find(objects, 'ConfigMap', 'postgres-pgbackrest').data['pgbackrest.conf'];
    expect(conf).toContain('repo1-s3-endpoint=s3.us-south.cloud-object-storage.appdomain.cloud');
    expect(conf).toContain('repo1-retention-full=4');
    expect(conf).not.toMatch(/key-secret|s3-key=/);
    const env = find(objects, 'StatefulSet', 'postgres').spec.template.spec.containers[0].env;
    expect(env.find((e: any) => e.name === 'PGBACKREST_REPO1_S3_KEY_SECRET').valueFrom.secretKeyRef).toEqual({ name: 'postgres-backup-s3', key: 'secret-key' });
    const config = parse(find(objects, 'ConfigMap', 'postgres-patroni').data['patroni.yaml']);
    expect(config.bootstrap.dcs.postgresql.parameters.archive_command).toBe('pgbackrest --stanza=expense archive-push %p');
    expect(config.postgresql.create_replica_methods).toEqual(['pgbackrest', 'basebackup']);
  });

  it('prefers spreading in small clusters', () => {
    const pod = find(synth({ antiAffinity: 'preferred' }), 'StatefulSet', 'postgres').spec.template.spec;
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight).toBe(100);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(synth({ backup: { repository: s3, retention: { full: 2, diff: 3 } } }))).toBe(JSON.stringify(synth({ backup: { repository: s3, retention: { full: 2, diff: 3 } } })));
  });

  it.each<[string, PostgresHaProps, RegExp]>([
    ['one member', { members: 1 }, /members must be an integer from 2 to 9/],
    ['latest image', { image: 'percona/x:latest' }, /pinned reference/],
    ['bad storage', { storage: '1G' }, /storage must look like/],
    ['bad stanza', { backup: { repository: s3, retention: { full: 1, diff: 1 }, stanza: 'Bad Name' } }, /backup.stanza/],
    ['bad cron', { backup: { repository: s3, retention: { full: 1, diff: 1 }, schedule: { full: 'daily', diff: '0 1 * * *' } } }, /backup.schedule.full/],
    ['bad retention', { backup: { repository: s3, retention: { full: 0, diff: 1 } } }, /retention.full/],
    ['bad endpoint', { backup: { repository: { ...s3, endpoint: 'https://x' }, retention: { full: 1, diff: 1 } } }, /repository.endpoint/],
  ])('rejects %s naming the field', (_l, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('Patroni and pgBackRest configuration', () => {
  const base = { scope: 'postgres', namespace: 'ns', podLabels: { a: 'b' }, dataDir: '/d', binDir: '/b', socketDir: '/s', pgpassFile: '/p' };
  it('refuses a TTL shorter than loop_wait + 2 × retry_timeout', () => {
    expect(() => patroniConfig({ ...base, timing: { ttlSeconds: 20, loopWaitSeconds: 10, retryTimeoutSeconds: 10 } })).toThrow(/timing.ttlSeconds/);
  });
  it('restores to a zoned point in time and refuses a time without a zone', () => {
    const f = patroniRestoreFragment({ stanza: 'expense', targetTime: '2026-11-30 04:47:27.462566+00' }) as any;
    expect(f.bootstrap.method).toBe('pgbackrest_restore');
    expect(f.bootstrap.pgbackrest_restore.recovery_conf).toMatchObject({ recovery_target_time: '2026-11-30 04:47:27.462566+00', recovery_target_action: 'promote' });
    expect(() => patroniRestoreFragment({ stanza: 'expense', targetTime: '2026-11-30 04:47:27' })).toThrow(/time zone/);
  });
  it('renders a posix repository for a PVC', () => {
    const text = renderPgbackrestConfig({ stanza: 'expense', repository: { type: 'posix', path: '/backup' }, retention: { full: 1, diff: 2 }, pgPath: '/d', pgPort: 5432, pgSocketPath: '/s', workPath: '/w' });
    expect(text).toMatch(/^\[global\]\nrepo1-type=posix\nrepo1-path=\/backup\n/);
    expect(text).toContain('[expense]\npg1-path=/d\npg1-port=5432\npg1-socket-path=/s\n');
  });
});
