/** dist/ibm on a fresh control plane (see environment-suite.ts for what is checked). */
import { describeEnvironment } from './environment-suite.js';

describeEnvironment('ibm');
