/**
 * The cdk8s app behind `cdk8s synth` (see cdk8s.yaml): one ExpenseTrackerChart per built-in
 * environment, written by cdk8s to `dist/cdk8s/expense-tracker-<env>.k8s.yaml`. It honours
 * IMAGE_TAG like `npm run synth`; use `npm run synth` for `--set` overrides and the
 * per-object file layout under `dist/<env>/`.
 */
import { App, YamlOutputType } from 'cdk8s';
import { loadAllEnvironments } from '@expense-tracker/model/environment';
import { instanceName } from '@expense-tracker/model/naming';
import { ExpenseTrackerChart } from './expense-tracker-chart.js';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'dist/cdk8s', yamlOutputType: YamlOutputType.FILE_PER_CHART });
for (const environment of loadAllEnvironments()) {
  new ExpenseTrackerChart(app, instanceName(environment.name), { environment });
}
app.synth();
