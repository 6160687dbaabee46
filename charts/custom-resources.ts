/**
 * OpenAPI validation of the custom resources the charts synthesize (Prometheus Operator
 * `monitoring.coreos.com` kinds), against the `openAPIV3Schema` of the pinned CRDs that
 * `npm run import:crds` writes next to the generated classes. Models have the same shape as the
 * kubernetes-models classes the validator uses for built-in kinds: `new Model(obj).validate()`
 * throws an error whose `errors` list `{ instancePath, message }`.
 *
 * Ajv checks the structural schema (types, required fields, enums, patterns, bounds); the
 * `x-kubernetes-validations` CEL rules are evaluated by the API server only.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';

const SCHEMAS_PATH = new URL('./imports/monitoring.coreos.com.schemas.json', import.meta.url);

/** A model class: validates one object of its kind or throws. */
export type SchemaModel = new (data: unknown) => { validate(): void };

/** Raised by a custom-resource model; `errors` as Ajv reports them. */
export class CustomResourceValidationError extends Error {
  constructor(readonly errors: ReadonlyArray<{ instancePath: string; message?: string }>) {
    super(errors.map((e) => `${e.instancePath || '(root)'}: ${e.message}`).join('; '));
    this.name = 'CustomResourceValidationError';
  }
}

let ajv: Ajv | undefined;

/**
 * CRD patterns are Go RE2 syntax, where a `(?i)` group makes the rest case-insensitive; JavaScript
 * has no inline flag, so it becomes the `i` flag (the CRDs use it only for whole patterns).
 */
const goRegExp = Object.assign((pattern: string, flags: string) => (pattern.includes('(?i)') ? new RegExp(pattern.replaceAll('(?i)', ''), `${flags}i`) : new RegExp(pattern, flags)), {
  code: 'goRegExp',
});
const compiled = new Map<string, ValidateFunction>();

function validator(id: string, schema: object): ValidateFunction {
  let fn = compiled.get(id);
  if (!fn) {
    // Kubernetes structural schemas use `x-kubernetes-*` keywords and `int32`/`int64`/`byte`
    // formats Ajv does not know: ignore them rather than fail (the API server enforces those).
    ajv ??= new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { regExp: goRegExp } });
    fn = ajv.compile(schema);
    compiled.set(id, fn);
  }
  return fn;
}

/**
 * Models by `apiVersion/kind` (e.g. `monitoring.coreos.com/v1/ServiceMonitor`) for every
 * served version of every imported CRD.
 */
export function customResourceModels(): Record<string, SchemaModel> {
  const all = JSON.parse(readFileSync(SCHEMAS_PATH, 'utf8')) as Record<string, object>;
  const models: Record<string, SchemaModel> = {};
  for (const [id, schema] of Object.entries(all)) {
    if (id.startsWith('$')) continue;
    models[id] = class {
      constructor(private readonly data: unknown) {}
      validate(): void {
        const fn = validator(id, schema);
        if (!fn(this.data)) throw new CustomResourceValidationError(fn.errors ?? []);
      }
    };
  }
  return models;
}
