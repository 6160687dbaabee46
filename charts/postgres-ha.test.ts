import { App, Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { patroniPolicyRules, patroniRestoreFragment, patroniConfig } from './patroni-config.js';
import { renderPgbackrestConfig } from './pgbackrest-config.js';
import { PATRONI_RUN, PATRONI_UID, PostgresHa, PVC_REPOSITORY_PATH, type PostgresHaProps } from './postgres-ha.js';
import type { KubeObject } from './synthesize.js';
import { loadEnvironment } from '@expense-tracker/model/environment';
import { secretSpecs } from './secrets.js';
import { validateManifests } from './validate.js';

const s3 = {
  endpoint: 's3.us-south.cloud-object-storage.appdomain.cloud',
  port: 443,
  bucket: 'expense-backups',
  region: 'us-south',
  path: '/pgbackrest',
  uriStyle: 'host' as const,
  caConfigMap: '',
  cidrs: [],
};

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
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(sts.spec.template.metadata.labels['cluster-name']).toBe('postgres');
    const pod = sts.spec.template.spec;
    expect(pod.serviceAccountName).toBe('postgres');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    const container = pod.containers[0];
    expect(container.command).toEqual([PATRONI_RUN, 'patroni', '/etc/patroni']);
    expect(container.readinessProbe.httpGet.path).toBe('/readiness');
    expect(container.livenessProbe.httpGet.path).toBe('/liveness');
    expect(find(objects, 'Service', 'postgres').spec.selector.role).toBe('primary');
    expect(find(objects, 'Service', 'postgres-replicas').spec.selector.role).toBe('replica');
    const headless = find(objects, 'Service', 'postgres-headless');
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(find(objects, 'Role', 'postgres-patroni').rules).toEqual(patroniPolicyRules());
    expect(find(objects, 'PodDisruptionBudget', 'postgres').spec.maxUnavailable).toBe(1);
    const config = parse(find(objects, 'ConfigMap', 'postgres-patroni').data['patroni.yaml']);
    expect(config.bootstrap.dcs.synchronous_mode).toBe(true);
    expect(config.kubernetes.use_endpoints).toBe(false);
    expect(objects.some((o) => o.kind === 'CronJob')).toBe(false);
    // Members reach each other on PostgreSQL and Patroni's REST API.
    for (const [name, port] of [['allow-postgres-to-postgres', 'postgresql'], ['allow-postgres-to-patroni', 'patroni']]) {
      const np = find(objects, 'NetworkPolicy', name).spec;
      expect(np.podSelector.matchLabels).toEqual(sts.spec.selector.matchLabels);
      expect(np.ingress[0].from[0].podSelector.matchLabels).toEqual(sts.spec.selector.matchLabels);
      expect(np.ingress[0].ports[0].port).toBe(port);
    }
  });

  it('runs as a high UID and reads every secret from files, never from the pod spec environment', () => {
    const objects = synth({ backup: { s3 } });
    const pod = find(objects, 'StatefulSet', 'postgres').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsUser: PATRONI_UID, runAsGroup: PATRONI_UID, fsGroup: PATRONI_UID, runAsNonRoot: true });
    expect(PATRONI_UID).toBeGreaterThanOrEqual(10000);
    const container = pod.containers[0];
    expect(container.env.filter((e: any) => e.valueFrom?.secretKeyRef)).toEqual([]);
    const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.mountPath, m]));
    for (const secret of ['postgres-credentials', 'postgres-patroni', 'postgres-backup-s3']) {
      expect(mounts[`/run/secrets/${secret}`].readOnly).toBe(true);
      const volume = pod.volumes.find((v: any) => v.name === mounts[`/run/secrets/${secret}`].name);
      expect(volume.secret).toMatchObject({ secretName: secret, defaultMode: 0o440 });
    }
    const data = find(objects, 'ConfigMap', 'postgres-patroni').data;
    expect(data['run.sh']).toContain('PATRONI_SUPERUSER_PASSWORD=$(cat /run/secrets/postgres-patroni/superuser-password)');
    expect(data['run.sh']).toContain('PGBACKREST_REPO1_S3_KEY_SECRET=$(cat /run/secrets/postgres-backup-s3/secret-key)');
    expect(data['run.sh']).toContain('LD_PRELOAD=/usr/lib64/libnss_wrapper.so');
    expect(data['post-bootstrap.sh']).toContain('\\set password `cat /run/secrets/postgres-credentials/password`');
    expect(data['post-bootstrap.sh']).toContain('pgbackrest --stanza=expense stanza-create');
  });

  it('passes the chart validator (OpenAPI, restricted profile, references) with backups on', () => {
    const objects = synth({ backup: { s3: { ...s3, caConfigMap: 'backup-ca' } } });
    const caConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'backup-ca', namespace: 'expense-tracker' }, data: { 'ca.crt': 'x' } };
    expect(validateManifests([...objects, caConfigMap])).toEqual([]);
  });

  it('schedules full and differential backups that exec pgBackRest in the primary only', () => {
    const objects = synth({ backup: { s3, retention: { full: 4, diff: 6 }, schedule: { full: '0 2 * * 0', diff: '0 2 * * 1-6' } } });
    const full = find(objects, 'CronJob', 'postgres-backup-full');
    expect(full.spec.schedule).toBe('0 2 * * 0');
    expect(full.spec.concurrencyPolicy).toBe('Forbid');
    const job = full.spec.jobTemplate.spec.template.spec;
    expect(job.containers[0].command).toEqual(['kubectl', 'exec', 'service/postgres', '--container', 'postgres', '--', PATRONI_RUN, 'pgbackrest', '--stanza=expense', '--type=full', 'backup']);
    expect(job.securityContext.runAsUser).toBeGreaterThanOrEqual(10000);
    expect(job.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    expect(find(objects, 'CronJob', 'postgres-backup-diff').spec.jobTemplate.spec.template.spec.containers[0].command).toContain('--type=diff');
    const role = find(objects, 'Role', 'postgres-backup');
    expect(role.rules.find((r: any) => r.resources[0] === 'pods/exec').resourceNames).toEqual(['postgres-0', 'postgres-1', 'postgres-2']);
    const conf = find(objects, 'ConfigMap', 'postgres-pgbackrest').data['pgbackrest.conf'];
    expect(conf).toContain('repo1-s3-endpoint=s3.us-south.cloud-object-storage.appdomain.cloud');
    expect(conf).toContain('repo1-retention-full=4');
    expect(conf).not.toMatch(/key-secret|s3-key=/);
    const config = parse(find(objects, 'ConfigMap', 'postgres-patroni').data['patroni.yaml']);
    expect(config.bootstrap.dcs.postgresql.parameters.archive_command).toBe('pgbackrest --stanza=expense archive-push %p');
    expect(config.postgresql.create_replica_methods).toEqual(['pgbackrest', 'basebackup']);
  });

  it('lets members reach the Kubernetes API and the repository, and the backup jobs the API only', () => {
    const objects = synth({ apiServer: { cidrs: ['172.20.0.1/32'], port: 2040 }, backup: { s3: { ...s3, cidrs: ['161.26.0.0/16'] } } });
    const sts = find(objects, 'StatefulSet', 'postgres');
    const api = find(objects, 'NetworkPolicy', 'allow-postgres-to-kube-apiserver-egress').spec;
    expect(api.podSelector.matchLabels).toEqual(sts.spec.selector.matchLabels);
    expect(api.egress).toEqual([{ to: [{ ipBlock: { cidr: '172.20.0.1/32' } }], ports: [{ protocol: 'TCP', port: 2040 }] }]);
    const repo = find(objects, 'NetworkPolicy', 'allow-postgres-to-backup-repository-egress').spec;
    expect(repo.egress).toEqual([{ to: [{ ipBlock: { cidr: '161.26.0.0/16' } }], ports: [{ protocol: 'TCP', port: 443 }] }]);
    const job = find(objects, 'NetworkPolicy', 'allow-postgres-backup-to-kube-apiserver-egress').spec;
    expect(find(objects, 'CronJob', 'postgres-backup-full').spec.jobTemplate.spec.template.metadata.labels).toMatchObject(job.podSelector.matchLabels);
    expect(job.podSelector.matchLabels).not.toEqual(sts.spec.selector.matchLabels);
    // Without address blocks the repository is any public address.
    const open = find(synth({ backup: { s3 } }), 'NetworkPolicy', 'allow-postgres-to-backup-repository-egress').spec;
    expect(open.egress[0].to[0].ipBlock.cidr).toBe('0.0.0.0/0');
  });

  it('trusts a private CA for the repository from a ConfigMap', () => {
    const objects = synth({ backup: { s3: { ...s3, caConfigMap: 'backup-ca', port: 9443, uriStyle: 'path' } } });
    const conf = find(objects, 'ConfigMap', 'postgres-pgbackrest').data['pgbackrest.conf'];
    expect(conf).toContain('repo1-storage-ca-file=/etc/pgbackrest-ca/ca.crt');
    expect(conf).toContain('repo1-storage-port=9443');
    expect(conf).toContain('repo1-s3-uri-style=path');
    const pod = find(objects, 'StatefulSet', 'postgres').spec.template.spec;
    expect(pod.volumes.find((v: any) => v.configMap?.name === 'backup-ca')).toBeDefined();
  });

  it('keeps the repository on a PersistentVolumeClaim every member mounts, without S3 keys or egress', () => {
    const objects = synth({ antiAffinity: 'preferred', backup: { repository: 'pvc', pvc: { storage: '2Gi', storageClassName: 'standard' } } });
    expect(validateManifests(objects)).toEqual([]);
    const claim = find(objects, 'PersistentVolumeClaim', 'postgres-backup-repository');
    expect(claim.spec).toMatchObject({ accessModes: ['ReadWriteOnce'], storageClassName: 'standard', resources: { requests: { storage: '2Gi' } } });
    const pod = find(objects, 'StatefulSet', 'postgres').spec.template.spec;
    const volume = pod.volumes.find((v: any) => v.persistentVolumeClaim?.claimName === 'postgres-backup-repository');
    expect(pod.containers[0].volumeMounts).toContainEqual(expect.objectContaining({ name: volume.name, mountPath: PVC_REPOSITORY_PATH }));
    const conf = find(objects, 'ConfigMap', 'postgres-pgbackrest').data['pgbackrest.conf'];
    expect(conf).toMatch(new RegExp(`^\\[global\\]\nrepo1-type=posix\nrepo1-path=${PVC_REPOSITORY_PATH}\n`));
    expect(conf).not.toContain('s3');
    expect(JSON.stringify(pod)).not.toContain('postgres-backup-s3');
    expect(find(objects, 'ConfigMap', 'postgres-patroni').data['run.sh']).not.toContain('PGBACKREST_REPO1_S3_KEY');
    expect(objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'allow-postgres-to-backup-repository-egress')).toBeUndefined();
    expect(find(objects, 'CronJob', 'postgres-backup-full')).toBeDefined();
    // The Secret of the S3 keys is only asked for (create-secrets, Pulumi) with an S3 repository.
    const names = (repository: string) => secretSpecs(loadEnvironment('local', { set: ['postgres.mode=ha', 'postgres.backup.enabled=true', `postgres.backup.repository=${repository}`] })).map((x) => x.name);
    expect(names('pvc')).not.toContain('postgres-backup-s3');
    expect(names('s3')).toContain('postgres-backup-s3');
    // ReadWriteMany serves members on distinct nodes.
    expect(() => synth({ antiAffinity: 'required', backup: { repository: 'pvc', pvc: { accessMode: 'ReadWriteMany' } } })).not.toThrow();
  });

  it('requires one member per node in production', () => {
    const pod = find(synth({ antiAffinity: 'required' }), 'StatefulSet', 'postgres').spec.template.spec;
    expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe('kubernetes.io/hostname');
  });

  it('is deterministic', () => {
    expect(JSON.stringify(synth({ backup: { s3, retention: { full: 2, diff: 3 } } }))).toBe(JSON.stringify(synth({ backup: { s3, retention: { full: 2, diff: 3 } } })));
  });

  it.each<[string, PostgresHaProps, RegExp]>([
    ['one member', { members: 1 }, /PostgresHa: members: must be at least 2/],
    ['latest image', { image: { repository: 'percona/x', tag: 'latest' } }, /image\.tag: must not be "latest"/],
    ['bad storage', { storage: '1G' }, /PostgresHa: storage: must look like/],
    ['short ttl', { timing: { ttlSeconds: 20, loopWaitSeconds: 10, retryTimeoutSeconds: 10 } }, /timing\.ttlSeconds: must be at least loopWaitSeconds/],
    ['bad stanza', { backup: { s3, stanza: 'Bad Name' } }, /PostgresHa: backup\.stanza:/],
    ['bad cron', { backup: { s3, schedule: { full: 'daily', diff: '0 1 * * *' } } }, /PostgresHa: backup\.schedule\.full:/],
    ['bad retention', { backup: { s3, retention: { full: 0, diff: 1 } } }, /PostgresHa: backup\.retention\.full:/],
    ['bad endpoint', { backup: { s3: { ...s3, endpoint: 'https://x' } } }, /PostgresHa: backup\.s3\.endpoint:/],
    ['s3 repository without s3', { backup: {} }, /PostgresHa: backup\.s3: required with backup\.repository "s3"/],
    ['bad repository size', { backup: { repository: 'pvc', pvc: { storage: '10G' } } }, /PostgresHa: backup\.pvc\.storage:/],
    ['a ReadWriteOnce repository across nodes', { antiAffinity: 'required', backup: { repository: 'pvc' } }, /PostgresHa: backup\.pvc\.accessMode: a ReadWriteOnce repository volume is mounted on one node only/],
  ])('rejects %s naming the field', (_l, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('Patroni and pgBackRest configuration', () => {
  const base = { scope: 'postgres', namespace: 'ns', podLabels: { a: 'b' }, dataDir: '/d', binDir: '/b', socketDir: '/s', pgpassFile: '/p' };
  it('refuses a TTL shorter than loop_wait + 2 × retry_timeout', () => {
    expect(() => patroniConfig({ ...base, timing: { ttlSeconds: 20, loopWaitSeconds: 10, retryTimeoutSeconds: 10 } })).toThrow(/timing.ttlSeconds/);
  });
  it('keeps its state in etcd v3 where there is no Kubernetes API, and names what each DCS lacks', () => {
    const { namespace: _n, podLabels: _l, ...noKube } = base;
    const c = patroniConfig({ ...noKube, dcs: { etcd3: { hosts: ['etcd:2379'] } } });
    expect(c.etcd3).toEqual({ hosts: ['etcd:2379'] });
    expect(c).not.toHaveProperty('kubernetes');
    expect(patroniConfig(base)).toHaveProperty('kubernetes.namespace', 'ns');
    expect(() => patroniConfig(noKube)).toThrow(/namespace and podLabels are required with the kubernetes DCS/);
    expect(() => patroniConfig({ ...noKube, dcs: { etcd3: { hosts: [] } } })).toThrow(/dcs\.etcd3\.hosts/);
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
