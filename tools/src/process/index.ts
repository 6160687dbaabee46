/**
 * The test tooling's process library: free ports, waiting with deadlines, supervised
 * long-running processes, log tails, the shared cache and its locks, and Go builds.
 */
export { cacheBinDir, cacheRoot } from './cache.js';
export { goBuild, goEnv, runGo, type GoBuildOptions, type RunGoOptions } from './go.js';
export { withLock, type LockOptions } from './lock.js';
export { LineTail, logTail, onLines, stderrProgress, type Progress } from './log.js';
export { freePort, portOpen, waitForPort } from './ports.js';
export { assertRunning, isRunning, killNow, launchDetached, processAlive, relaunch, runsBinary, stopProcesses, type LaunchOptions, type ProcessRecord } from './supervise.js';
export { pollUntil, TimeoutError, waitUntil, type WaitOptions } from './wait.js';
