/**
 * OpenAPI validation of the custom resources the charts synthesize (Prometheus Operator
 * `monitoring.coreos.com` kinds), against the `openAPIV3Schema` of the pinned CRDs that
 * `npm run import:crds` writes next to the generated classes. Models have the same shape as the
 * kubernetes-models classes the validator uses for built-in kinds: `new Model(obj).validate()`
 * throws an error whose `errors` list `{ instancePath, message }`.
 *
 * Ajv checks the structural schema (types, required fields, enums, patterns, bounds) with the
 * validation code it generated from those schemas at import time
 * (`imports/monitoring.coreos.com.validators.cjs`, options in scripts/import-crds.ts): nothing is
 * compiled at run time. The `x-kubernetes-validations` CEL rules are evaluated by the API server only.
 */
import validators from './imports/monitoring.coreos.com.validators.cjs';

/** A model class: validates one object of its kind or throws. */
export type SchemaModel = new (data: unknown) => { validate(): void };

/** Raised by a custom-resource model; `errors` as Ajv reports them. */
export class CustomResourceValidationError extends Error {
  constructor(readonly errors: ReadonlyArray<{ instancePath: string; message?: string }>) {
    super(errors.map((e) => `${e.instancePath || '(root)'}: ${e.message}`).join('; '));
    this.name = 'CustomResourceValidationError';
  }
}

/**
 * Models by `apiVersion/kind` (e.g. `monitoring.coreos.com/v1/ServiceMonitor`) for every
 * served version of every imported CRD.
 */
export function customResourceModels(): Record<string, SchemaModel> {
  const models: Record<string, SchemaModel> = {};
  for (const [id, fn] of Object.entries(validators)) {
    models[id] = class {
      constructor(private readonly data: unknown) {}
      validate(): void {
        if (!fn(this.data)) throw new CustomResourceValidationError(fn.errors ?? []);
      }
    };
  }
  return models;
}
