/** Types of bundles.cjs (plain CommonJS so that it loads without any compilation). */
declare namespace bundles {
  /** [path (relative to the root, or absolute), mtime in ms, size in bytes (-1: absent at build), sha256] */
  type InputRecord = [path: string, mtimeMs: number, size: number, sha256: string];
  interface Manifest {
    version: 1;
    name: string;
    root: string;
    /** File name of the bundle in the output directory: `<name>-<first 16 hex digits of sha256>.cjs`. */
    bundle: string;
    sha256: string;
    inputs: InputRecord[];
  }
}
declare const bundles: {
  readonly ROOT: string;
  readonly BUNDLES: Readonly<Record<string, { readonly entry: string; readonly description: string }>>;
  readonly ALWAYS_INPUTS: readonly string[];
  outDirOf(root?: string): string;
  manifestPath(name: string, root?: string): string;
  readManifest(name: string, root?: string): bundles.Manifest | undefined;
  sha256File(file: string): string;
  staleReason(name: string, manifest: bundles.Manifest | undefined, root?: string): string | undefined;
  writeFileAtomic(file: string, content: string | Uint8Array): void;
};
export = bundles;
