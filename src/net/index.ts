/** Pod networking with CNI: `--net` parsing, netconfs, plugin runs, ports, DNS, net-info.json. */
export * from './netlist.js';
export * from './conf.js';
export * from './cni.js';
export * from './ports.js';
export * from './dns.js';
export * from './info.js';
export * from './pod.js';
