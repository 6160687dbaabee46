/**
 * Settings of the import feature, from environment variables. `loadConfig` (app/src/config.ts)
 * reads them with the rest of the app's settings, so a bad value stops the process with a
 * message naming the variable, like any other.
 *
 * Without `IMPORT_STAGING_DIR` the feature is off: the web process answers the import API with
 * 503 and the worker refuses to start.
 */
import { z } from 'zod';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const bytes = (def: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const m = /^\s*(\d+)\s*(|k|ki|m|mi|g|gi|t|ti)b?\s*$/i.exec(v);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be a byte count like 1048576, 512Mi or 10Gi' });
        return z.NEVER;
      }
      const unit = m[2]!.toLowerCase();
      const mult = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: MiB, g: 1e9, gi: GiB, t: 1e12, ti: 1024 * GiB }[unit]!;
      return Number(m[1]) * mult;
    });
const int = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? String(def) : v))
    .pipe(z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max)));

/** Environment variables read by the import feature (names are the keys). */
export const importEnvSchema = z.object({
  /** Staging directory: a volume shared by web and worker pods that survives restarts. */
  IMPORT_STAGING_DIR: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v))
    .pipe(z.string().startsWith('/', 'must be an absolute path').optional()),
  /** Largest file accepted, bytes (default 16 GiB). */
  IMPORT_MAX_BYTES: bytes(16 * GiB),
  /** Files up to this size are processed by the web process itself right after upload (default 1 MiB; 0 = never). */
  IMPORT_INLINE_MAX_BYTES: bytes(1 * MiB),
  /** Unfinished imports (receiving, queued, processing) a user may have at once (default 3). */
  IMPORT_USER_MAX_ACTIVE: int(3, 1, 1000),
  /** Bytes a user may upload in any 24 hours (default 32 GiB). */
  IMPORT_USER_DAILY_BYTES: bytes(32 * GiB),
  /** Free space kept on the staging volume for imports in progress, bytes (default 1 GiB). */
  IMPORT_STAGING_RESERVE_BYTES: bytes(1 * GiB),
  /** Hours a failed import's file stays staged for a retry (default 168 = 7 days). */
  IMPORT_FAILED_RETENTION_HOURS: int(168, 0, 24 * 365),
  /** Port of the worker's health and metrics endpoints (default 8081). */
  IMPORT_WORKER_PORT: int(8081, 1, 65535),
  /** Seconds a process holds an import without renewing; a dead worker's import resumes after it (default 60). */
  IMPORT_LEASE_SECONDS: int(60, 3, 3600),
});

/** Every environment variable name the import feature reads. */
export const IMPORT_ENV_KEYS = Object.keys(importEnvSchema.shape) as (keyof typeof importEnvSchema.shape)[];

export interface ImportConfig {
  /** Undefined: imports are disabled. */
  stagingDir: string | undefined;
  maxBytes: number;
  inlineMaxBytes: number;
  userMaxActive: number;
  userDailyBytes: number;
  stagingReserveBytes: number;
  failedRetentionHours: number;
  workerPort: number;
  leaseSeconds: number;
}

/**
 * Validates the import variables of `env`. Returns the settings, or the problems as
 * `VARIABLE: message` lines (then `config` is undefined).
 */
export function readImportEnv(env: NodeJS.ProcessEnv): { config?: ImportConfig; issues: string[] } {
  const picked: Record<string, string | undefined> = {};
  for (const key of IMPORT_ENV_KEYS) picked[key] = env[key];
  const r = importEnvSchema.safeParse(picked);
  if (!r.success) return { issues: r.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`) };
  const e = r.data;
  return {
    issues: [],
    config: {
      stagingDir: e.IMPORT_STAGING_DIR,
      maxBytes: e.IMPORT_MAX_BYTES,
      inlineMaxBytes: e.IMPORT_INLINE_MAX_BYTES,
      userMaxActive: e.IMPORT_USER_MAX_ACTIVE,
      userDailyBytes: e.IMPORT_USER_DAILY_BYTES,
      stagingReserveBytes: e.IMPORT_STAGING_RESERVE_BYTES,
      failedRetentionHours: e.IMPORT_FAILED_RETENTION_HOURS,
      workerPort: e.IMPORT_WORKER_PORT,
      leaseSeconds: e.IMPORT_LEASE_SECONDS,
    },
  };
}
