export * from './config-builder.js';
export * from './load-balancer.js';
export * from './render.js';
