/** appc meta discovery: app strings, discovery pages, endpoint and public key lookup. */
export {
  DEFAULT_VERSION,
  acIdentifierProblem,
  appToString,
  hostGoArch,
  hostGoOS,
  newApp,
  parseAppString,
  withDefaultLabels,
  withDefaultVersion,
  type DiscoveryApp,
} from './app.js';
export { ACMetaScanner, extractACMeta, readACMeta, type ACMeta, type ACMetaName } from './meta.js';
export {
  aciEndpointsFromMeta,
  metaMatches,
  publicKeysFromMeta,
  renderTemplate,
  type ACIEndpoint,
} from './template.js';
export {
  DiscoveryFetchError,
  createUndiciTransport,
  discoveryURL,
  fetchDiscoveryPage,
  goNetReason,
  type DiscoveryPage,
  type DiscoveryTransport,
  type HeaderSet,
  type InsecureDiscovery,
  type PageOptions,
  type TransportOptions,
  type TransportResponse,
} from './http.js';
export {
  DiscoveryClient,
  DiscoveryError,
  discoverACIEndpoints,
  discoverPublicKeys,
  walkPrefixes,
  type DiscoveredEndpoints,
  type DiscoveredPublicKeys,
  type DiscoveryOptions,
  type FailedAttempt,
} from './discover.js';
