import { describe, expect, it } from 'vitest';
import { scannerExceptionAnnotations, scannerExceptionProblems } from './scanner-exceptions.js';

describe('scanner exceptions', () => {
  it('writes checkov skips and kube-score ignores with their reasons, in a stable order', () => {
    const annotations = scannerExceptionAnnotations({
      checkov: { CKV_K8S_43: 'built locally, no digest', CKV_K8S_15: 'loaded into the node' },
      kubeScore: { 'deployment-strategy': 'ReadWriteOnce volume', 'deployment-replicas': 'a cache' },
    });
    expect(annotations).toEqual({
      'checkov.io/skip1': 'CKV_K8S_15=loaded into the node',
      'checkov.io/skip2': 'CKV_K8S_43=built locally, no digest',
      'kube-score/ignore': 'deployment-replicas,deployment-strategy',
      'expense-tracker/kube-score-reason.deployment-replicas': 'a cache',
      'expense-tracker/kube-score-reason.deployment-strategy': 'ReadWriteOnce volume',
    });
    expect(scannerExceptionProblems(annotations)).toEqual([]);
  });

  it('refuses a missing reason, an "=" in a reason and a malformed ID', () => {
    expect(() => scannerExceptionAnnotations({ checkov: { CKV_K8S_43: ' ' } })).toThrow(/CKV_K8S_43: a reason is required/);
    expect(() => scannerExceptionAnnotations({ checkov: { CKV_K8S_43: 'a=b' } })).toThrow(/must not contain "="/);
    expect(() => scannerExceptionAnnotations({ checkov: { K8S_43: 'x' } })).toThrow(/not a checkov Kubernetes check ID/);
    expect(() => scannerExceptionAnnotations({ kubeScore: { 'Deployment Replicas': 'x' } })).toThrow(/not a kube-score test ID/);
  });

  it('finds a reason that belongs to no ignored test', () => {
    expect(scannerExceptionProblems({ 'expense-tracker/kube-score-reason.pod-probes': 'old' })).toEqual([
      { key: 'expense-tracker/kube-score-reason.pod-probes', message: expect.stringMatching(/does not list/) },
    ]);
  });
});
