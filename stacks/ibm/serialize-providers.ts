/**
 * Serializes the dynamic providers exactly as `pulumi up` does (Pulumi's closure serializer)
 * and prints `{ "<provider>": "<serialized text>" }` as JSON on stdout. Run with tsx; used by
 * serialization.test.ts, since the serializer cannot run on vitest-transformed code.
 */
import * as pulumi from '@pulumi/pulumi';
import { minikubeClusterProvider } from '../minikube-target.js';
import { icrNamespaceProvider, iksClusterProvider } from './providers.js';

const providers = { iksClusterProvider, icrNamespaceProvider, minikubeClusterProvider };
const out: Record<string, string> = {};
for (const [name, provider] of Object.entries(providers)) {
  out[name] = (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
}
process.stdout.write(JSON.stringify(out));
